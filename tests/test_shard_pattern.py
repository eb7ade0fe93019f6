"""`--webdataset` patterns: webdataset's brace notation expanded in order, then globs, no repeats."""

import pytest

from mmssl.data.shard_pattern import expand_braces, shard_names


def test_ranges_keep_their_zero_padding_and_lists_their_order():
    assert expand_braces("/wds/{00998..01001}.tar") == [f"/wds/{n:05d}.tar" for n in (998, 999, 1000, 1001)]
    assert expand_braces("/wds/{b,a}/{0..1}.tar") == ["/wds/b/0.tar", "/wds/b/1.tar", "/wds/a/0.tar", "/wds/a/1.tar"]
    assert expand_braces("s{a,b{1..2}}.tar") == ["sa.tar", "sb1.tar", "sb2.tar"]  # nested
    assert len(expand_braces("/wds/{00000..00999}.tar")) == 1000


def test_home_is_expanded_after_the_braces(monkeypatch):
    monkeypatch.setenv("HOME", "/home/me")
    assert expand_braces("~/{0..1}.tar") == ["/home/me/0.tar", "/home/me/1.tar"]


def test_unbalanced_braces_name_the_pattern():
    with pytest.raises(ValueError, match=r"'/wds/\{00000\.\.00009\.tar' has unbalanced braces"):
        expand_braces("/wds/{00000..00009.tar")


def test_names_without_wildcards_are_kept_present_or_not_and_globs_list_files(tmp_path):
    for name in ("a/1.tar", "a/2.tar", "b/1.tar", "b/x.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a" / "dir.tar").mkdir()  # a folder that matches the glob is not a shard
    assert shard_names(f"{tmp_path}/{{b,a}}/*.tar") == [str(tmp_path / n) for n in ("b/1.tar", "a/1.tar", "a/2.tar")]
    assert shard_names(f"{tmp_path}/a/{{1..3}}.tar") == [str(tmp_path / f"a/{n}.tar") for n in (1, 2, 3)]
    assert shard_names(f"{tmp_path}/a/{{1,*,1}}.tar") == [str(tmp_path / f"a/{n}.tar") for n in (1, 2)]  # once each
    assert shard_names(f"{tmp_path}/c/*.tar") == []
