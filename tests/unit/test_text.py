import numpy as np

from tasks import text


def test_tokenize_lowercases_and_drops_breaks_and_punctuation():
    assert text.tokenize("A <br />great film!<br/>Isn't it? 10/10") == [
        "a", "great", "film", "isn't", "it", "10", "10"]


def test_rank_words_by_frequency_then_first_appearance():
    docs = [["b", "a", "c"], ["a", "c", "d"], ["c"]]
    assert text.rank_words(docs) == ["c", "a", "b", "d"]


def test_encode_reserves_ids_and_caps_vocabulary():
    index = text.word_index(["the", "film", "was", "good"])
    assert index == {"the": 3, "film": 4, "was": 5, "good": 6}
    # num_words=6 keeps ids < 6: "good" (6) and unknown words become OOV (2); START (1) leads.
    assert text.encode(["the", "good", "film", "unseen"], index, num_words=6) == [1, 3, 2, 4, 2]


def test_pad_sequences_pads_and_truncates_at_the_front():
    out = text.pad_sequences([[1, 2], [1, 2, 3, 4, 5], []], maxlen=4)
    assert out.dtype == np.int32
    assert out.tolist() == [[0, 0, 1, 2], [2, 3, 4, 5], [0, 0, 0, 0]]


def test_stratified_holdout_is_balanced_disjoint_and_fixed_by_seed():
    labels = np.array([0] * 50 + [1] * 30)
    train, held = text.stratified_holdout(labels, 0.1, seed=7)
    assert len(held) == 8 and np.sum(labels[held] == 0) == 5 and np.sum(labels[held] == 1) == 3
    assert not set(train) & set(held) and len(train) + len(held) == 80
    again, held_again = text.stratified_holdout(labels, 0.1, seed=7)
    assert np.array_equal(held, held_again)
