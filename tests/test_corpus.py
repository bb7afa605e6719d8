"""User corpora: .txt and .jsonl reading, the errors users see, and the `corpus` dataset."""
from __future__ import annotations

import json

import pytest

from aigc_eval.data import load_dataset
from aigc_eval.data.corpus import load_corpus
from aigc_eval.errors import UserError


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def jsonl(path, records):
    return write(path, "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n"
                               for r in records))


def user_error(fn, *args, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- reading one file -------------------------------------------------------------------------------

def test_txt_skips_and_counts_blank_lines(tmp_path):
    c = load_corpus(write(tmp_path / "a.txt", "the cat sat .\n\n  a dog ran .  \r\n   \nend\n"))
    assert c.sentences == ("the cat sat .", "a dog ran .", "end")
    assert c.blank_lines == 2 and c.labels is None and c.tokenize == "space"


def test_txt_without_final_newline_and_with_bom(tmp_path):
    c = load_corpus(write(tmp_path / "a.txt", "\ufefffirst line\nsecond line"))
    assert c.sentences == ("first line", "second line") and c.blank_lines == 0


def test_jsonl_with_labels(tmp_path):
    path = jsonl(tmp_path / "a.jsonl", [{"text": "good film", "label": "pos"}, "",
                                        {"text": "bad film", "label": 3, "extra": 1}])
    c = load_corpus(path)
    assert c.sentences == ("good film", "bad film") and c.labels == ("pos", "3") and c.blank_lines == 1


def test_cjk_is_detected_as_char_mode(tmp_path):
    c = load_corpus(write(tmp_path / "zh.txt", "我喜欢猫。\n今天天气很好。\n"))
    assert c.tokenize == "char"
    c = load_corpus(jsonl(tmp_path / "zh.jsonl", [{"text": "我喜欢猫。"}]))
    assert c.tokenize == "char" and c.sentences == ("我喜欢猫。",)


def test_not_utf8_names_the_line(tmp_path):
    path = write(tmp_path / "latin.txt", "ok line\nanother\ncaf\xe9 au lait\n".encode("latin-1"))
    message = user_error(load_corpus, path)
    assert str(path) in message and "line 3" in message and "UTF-8" in message


@pytest.mark.parametrize("line, expected", [
    ('{"text": "a", ', "invalid JSON"),
    ('["a", "b"]', "expected a JSON object"),
    ('{"label": "x"}', 'missing "text"'),
    ('{"text": 3}', '"text" must be a non-empty string'),
    ('{"text": "  "}', '"text" must be a non-empty string'),
    ('{"text": "a", "label": [1]}', '"label" must be a string or an integer'),
])
def test_bad_jsonl_lines_name_the_line(tmp_path, line, expected):
    path = jsonl(tmp_path / "bad.jsonl", [{"text": "fine"}, "", line])
    message = user_error(load_corpus, path)
    assert f"{path} line 3" in message and expected in message


def test_labels_on_some_lines_only(tmp_path):
    path = jsonl(tmp_path / "mixed.jsonl", [{"text": "a", "label": "x"}, {"text": "b"}])
    assert "line 2" in user_error(load_corpus, path)
    path = jsonl(tmp_path / "mixed2.jsonl", [{"text": "a"}, {"text": "b", "label": "x"}])
    assert "line 2" in user_error(load_corpus, path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_files(tmp_path, content):
    for name in ("e.txt", "e.jsonl"):
        path = write(tmp_path / name, content)
        message = user_error(load_corpus, path)
        assert str(path) in message and "no sentences" in message


def test_wrong_suffix_and_missing_file(tmp_path):
    assert ".csv" in user_error(load_corpus, write(tmp_path / "a.csv", "x\n"))
    assert "cannot read" in user_error(load_corpus, tmp_path / "absent.txt")


# -- the corpus dataset ------------------------------------------------------------------------------

def test_corpus_dataset_from_txt(tmp_path):
    write(tmp_path / "train.txt", "a b c\n\nb c d\n")
    write(tmp_path / "test.txt", "c d e\n")
    ds = load_dataset("corpus", data_root=tmp_path)
    assert ds.kind == "text" and ds.train == ("a b c", "b c d") and ds.test == ("c d e",)
    assert ds.train_y is None and ds.class_names == () and ds.tokenize == "space"
    assert ds.meta["blank_lines"] == 1


def test_corpus_dataset_labels_and_subdir(tmp_path):
    sub = tmp_path / "reviews"
    sub.mkdir()
    jsonl(sub / "train.jsonl", [{"text": "great", "label": "pos"}, {"text": "awful", "label": "neg"},
                                {"text": "fine", "label": "pos"}])
    jsonl(sub / "test.jsonl", [{"text": "superb", "label": "pos"}, {"text": "dull", "label": "neg"}])
    ds = load_dataset("corpus", data_root=tmp_path, subdir="reviews")
    assert ds.class_names == ("neg", "pos")
    assert ds.train_y.tolist() == [1, 0, 1] and ds.test_y.tolist() == [1, 0]
    assert load_dataset("corpus", data_root=tmp_path, subdir="reviews", tokenize="char").tokenize == "char"


def test_corpus_dataset_errors(tmp_path):
    assert "--data-root" in user_error(load_dataset, "corpus")
    write(tmp_path / "train.txt", "a\n")
    assert "test.txt or test.jsonl" in user_error(load_dataset, "corpus", data_root=tmp_path)
    jsonl(tmp_path / "test.jsonl", [{"text": "b", "label": "x"}])
    assert "no labels" in user_error(load_dataset, "corpus", data_root=tmp_path)
    jsonl(tmp_path / "train.jsonl", [{"text": "a", "label": "y"}])
    assert "both train.txt and train.jsonl" in user_error(load_dataset, "corpus", data_root=tmp_path)
    (tmp_path / "train.txt").unlink()
    assert "'x'" in user_error(load_dataset, "corpus", data_root=tmp_path)
    assert "tokenize" in user_error(load_dataset, "corpus", data_root=tmp_path, tokenize="words")
