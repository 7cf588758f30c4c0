"""Per-asset settings from sidecar and folder oxy.toml files (oxy.build.settings_files)."""
from __future__ import annotations

import os
import pathlib
import re

import pytest

from oxy.build.settings_files import (SettingsFileCache, SettingsFileError, glob_matches, glob_to_regex,
                                      settings_for_source)

ALLOWED = frozenset({"preset", "quality", "mips", "output", "alpha_coverage", "mip_filter", "perceptual", "roles"})


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def source(path: pathlib.Path) -> str:
    write(path, "not an image; never read")
    return str(path)


# ---------------------------------------------------------------- globs

@pytest.mark.parametrize("pattern, subject, expected", [
    ("*.png", "brick.png", True),
    ("*.png", "dir/brick.png", False),           # "*" never crosses "/"
    ("*_normal.png", "wall_normal.png", True),
    ("*_normal.png", "wall_normal.PNG", False),  # case-sensitive
    ("?.png", "a.png", True),
    ("?.png", "ab.png", False),
    ("a?b", "a/b", False),                       # "?" never matches "/"
    ("**/*.png", "a.png", True),                 # "**/" = zero folders
    ("**/*.png", "x/a.png", True),
    ("**/*.png", "x/y/z/a.png", True),
    ("ui/**", "ui/a.png", True),
    ("ui/**", "ui/icons/a.png", True),
    ("ui/**", "uix/a.png", False),
    ("ui/**", "ui", False),
    ("a/**/b.png", "a/b.png", True),
    ("a/**/b.png", "a/x/y/b.png", True),
    ("a/**/b.png", "ab.png", False),
    ("a**b", "axxb", True),                      # "**" inside a segment is "*"
    ("a**b", "ax/xb", False),
    ("**", "any/thing/at.all", True),
    ("[abc].png", "b.png", True),
    ("[abc].png", "d.png", False),
    ("[a-c].png", "b.png", True),
    ("[!a-c].png", "d.png", True),
    ("[!a-c].png", "b.png", False),
    ("[^a-c].png", "d.png", True),
    ("x[!a]y", "x/y", False),                    # a negated class never matches "/"
    ("[]].png", "].png", True),                  # "]" first in a class is literal
    ("[.png", "[.png", True),                    # unclosed "[" is literal
    ("a+b(c).png", "a+b(c).png", True),          # regex characters are literal
    ("\\*.png", "*.png", True),                  # backslash escapes
    ("\\*.png", "a.png", False),
])
def test_glob_table(pattern: str, subject: str, expected: bool) -> None:
    assert (re.fullmatch(glob_to_regex(pattern), subject) is not None) is expected


@pytest.mark.parametrize("pattern, relpath, expected", [
    ("*.png", "deep/in/here/brick.png", True),   # no "/": the file name anywhere below
    ("*.png", "brick.png", True),
    ("textures/*.png", "textures/brick.png", True),
    ("textures/*.png", "other/textures/brick.png", False),  # with "/": anchored to the folder
    ("/brick.png", "brick.png", True),            # leading "/" anchors, changes nothing else
    ("/brick.png", "sub/brick.png", False),
])
def test_glob_name_versus_path(pattern: str, relpath: str, expected: bool) -> None:
    assert glob_matches(pattern, relpath) is expected


# ---------------------------------------------------------------- lookups

def test_no_files_gives_empty_settings_and_lists_candidates(tmp_path: pathlib.Path) -> None:
    src = source(tmp_path / "a" / "brick.png")
    found = settings_for_source(src)
    assert found.settings == {} and found.origins == {}
    assert found.consulted[0] == src + ".oxy.toml"
    assert found.consulted[1] == str(tmp_path / "a" / "oxy.toml")
    assert found.consulted[2] == str(tmp_path / "oxy.toml")
    assert found.consulted[-1] == "/oxy.toml"  # no root = true: up to the file-system root
    assert all(os.path.isabs(p) for p in found.consulted)


def test_sidecar_only(tmp_path: pathlib.Path) -> None:
    src = source(tmp_path / "brick.png")
    sidecar = write(tmp_path / "brick.png.oxy.toml",
                    'preset = "normal"\nmips = false\nalpha_coverage = 0.5\n[roles]\nnormal = "normal"\n')
    found = settings_for_source(src, allowed=ALLOWED)
    assert found.settings == {"preset": "normal", "mips": False, "alpha_coverage": 0.5, "roles": {"normal": "normal"}}
    assert found.origins["preset"] == str(sidecar)
    assert found.origins["roles.normal"] == str(sidecar)


def test_relative_source_path_is_made_absolute(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source(tmp_path / "brick.png")
    write(tmp_path / "brick.png.oxy.toml", 'quality = "high"\n')
    monkeypatch.chdir(tmp_path)
    found = settings_for_source("brick.png")
    assert found.settings == {"quality": "high"}
    assert found.consulted[0] == str(tmp_path / "brick.png.oxy.toml")


def test_folder_rules_name_glob_path_glob_and_double_star(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "oxy.toml", """
root = true
[[rules]]
glob = "*_normal.png"
preset = "normal"
[[rules]]
glob = "ui/**"
preset = "ui"
quality = "fast"
[[rules]]
glob = "**/hdr/*.hdr"
output = "rgba16f"
""")
    normal = settings_for_source(source(tmp_path / "walls" / "deep" / "wall_normal.png"))
    assert normal.settings == {"preset": "normal"}
    assert normal.origins == {"preset": f"{tmp_path / 'oxy.toml'}:rules[0]"}
    ui = settings_for_source(source(tmp_path / "ui" / "icons" / "close.png"))
    assert ui.settings == {"preset": "ui", "quality": "fast"}
    assert settings_for_source(source(tmp_path / "hdr" / "sky.hdr")).settings == {"output": "rgba16f"}
    assert settings_for_source(source(tmp_path / "a" / "hdr" / "sky.hdr")).settings == {"output": "rgba16f"}
    assert settings_for_source(source(tmp_path / "menu" / "ui" / "x.png")).settings == {}  # "ui/**" is anchored


def test_precedence_far_near_later_rule_sidecar(tmp_path: pathlib.Path) -> None:
    far = write(tmp_path / "oxy.toml", """
root = true
[[rules]]
glob = "*.png"
preset = "albedo"
quality = "fast"
mips = false
output = "bc7"
""")
    near = write(tmp_path / "art" / "oxy.toml", """
[[rules]]
glob = "*.png"
quality = "normal"
mip_filter = "box"
[[rules]]
glob = "brick.*"
quality = "high"
""")
    sidecar = write(tmp_path / "art" / "brick.png.oxy.toml", 'mips = true\n')
    found = settings_for_source(source(tmp_path / "art" / "brick.png"))
    assert found.settings == {"preset": "albedo", "quality": "high", "mips": True, "output": "bc7",
                              "mip_filter": "box"}
    assert found.origins == {
        "preset": f"{far}:rules[0]",          # only the far file sets it
        "output": f"{far}:rules[0]",
        "mip_filter": f"{near}:rules[0]",      # nearer file
        "quality": f"{near}:rules[1]",         # later rule in the nearer file beats the earlier one
        "mips": str(sidecar),                  # sidecar beats every folder rule
    }


def test_nested_tables_merge_key_by_key(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "oxy.toml", """
root = true
[[rules]]
glob = "*.gltf"
roles = { base_color = "albedo", normal = "normal" }
""")
    sidecar = write(tmp_path / "helmet.gltf.oxy.toml", 'quality = "high"\n[roles]\nnormal = "normal_bc5"\n')
    found = settings_for_source(source(tmp_path / "helmet.gltf"), allowed=ALLOWED)
    assert found.settings == {"quality": "high", "roles": {"base_color": "albedo", "normal": "normal_bc5"}}
    assert found.origins["roles.base_color"] == f"{tmp_path / 'oxy.toml'}:rules[0]"
    assert found.origins["roles.normal"] == str(sidecar)
    # a non-table replaces the table whole, and its nested origins go with it
    write(tmp_path / "helmet.gltf.oxy.toml", 'roles = "none"\n')
    replaced = settings_for_source(str(tmp_path / "helmet.gltf"))
    assert replaced.settings == {"roles": "none"}
    assert not any(k.startswith("roles.") for k in replaced.origins)


def test_merged_settings_do_not_alias_the_cache(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "oxy.toml", 'root = true\n[[rules]]\nglob = "*"\nroles = { normal = "normal" }\n')
    cache = SettingsFileCache()
    first = settings_for_source(source(tmp_path / "a.gltf"), cache=cache)
    first.settings["roles"]["normal"] = "changed by a caller"
    assert settings_for_source(source(tmp_path / "b.gltf"), cache=cache).settings == {"roles": {"normal": "normal"}}


def test_root_true_stops_the_walk(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "oxy.toml", '[[rules]]\nglob = "*"\nquality = "fast"\n')
    write(tmp_path / "project" / "oxy.toml", "root = true\n")
    src = source(tmp_path / "project" / "art" / "brick.png")
    found = settings_for_source(src)
    assert found.settings == {}  # the rule above the root is not applied
    assert found.consulted == (src + ".oxy.toml", str(tmp_path / "project" / "art" / "oxy.toml"),
                               str(tmp_path / "project" / "oxy.toml"))
    # without root = true the outer rule applies and the walk goes on up
    write(tmp_path / "project" / "oxy.toml", "root = false\n")
    found = settings_for_source(src)
    assert found.settings == {"quality": "fast"}
    assert str(tmp_path / "oxy.toml") in found.consulted


def test_root_in_the_sources_own_folder(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "oxy.toml", "root = true\n")
    src = source(tmp_path / "brick.png")
    assert settings_for_source(src).consulted == (src + ".oxy.toml", str(tmp_path / "oxy.toml"))


def test_path_globs_are_relative_to_their_own_folder(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "oxy.toml", 'root = true\n[[rules]]\nglob = "art/ui/*.png"\npreset = "ui"\n')
    write(tmp_path / "art" / "oxy.toml", '[[rules]]\nglob = "ui/*.png"\nquality = "fast"\n')
    found = settings_for_source(source(tmp_path / "art" / "ui" / "b.png"))
    assert found.settings == {"preset": "ui", "quality": "fast"}


def test_cache_parses_each_file_once_and_gives_the_same_answers(tmp_path: pathlib.Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "oxy.toml", 'root = true\n[[rules]]\nglob = "*_n.png"\npreset = "normal"\n')
    sources = [source(tmp_path / f"d{d}" / f"t{i}{'_n' if i % 2 else ''}.png") for d in range(3) for i in range(10)]
    from oxy.build import settings_files
    parsed: list[str] = []
    real = settings_files._parse_folder_file
    monkeypatch.setattr(settings_files, "_parse_folder_file", lambda p: parsed.append(p) or real(p))
    cache = SettingsFileCache()
    with_cache = [settings_for_source(s, cache=cache, allowed=ALLOWED) for s in sources]
    assert sorted(parsed) == sorted({str(tmp_path / "oxy.toml")} | {str(tmp_path / f"d{d}" / "oxy.toml")
                                                                    for d in range(3)})
    assert with_cache == [settings_for_source(s) for s in sources]
    assert sum(1 for r in with_cache if r.settings == {"preset": "normal"}) == 15


# ---------------------------------------------------------------- errors

def test_unknown_key_names_file_key_and_suggestion(tmp_path: pathlib.Path) -> None:
    rules = write(tmp_path / "oxy.toml", 'root = true\n[[rules]]\nglob = "nothing-matches"\nquailty = "high"\n')
    src = source(tmp_path / "brick.png")
    with pytest.raises(SettingsFileError) as info:
        settings_for_source(src, allowed=ALLOWED)  # reported even though the rule does not match
    message = str(info.value)
    assert str(rules) in message and "'quailty'" in message and "'quality'" in message and "rules[0]" in message
    assert settings_for_source(src).settings == {}  # without `allowed` keys pass through
    rules.write_text("root = true\n")
    sidecar = write(tmp_path / "brick.png.oxy.toml", 'prest = "normal"\n')
    with pytest.raises(SettingsFileError) as info:
        settings_for_source(src, allowed=ALLOWED)
    assert info.value.path == str(sidecar)
    assert str(info.value) == f"{sidecar}: unknown setting 'prest'; did you mean 'preset'?"


def test_toml_syntax_error_names_file_line_and_column(tmp_path: pathlib.Path) -> None:
    bad = write(tmp_path / "oxy.toml", 'root = true\n[[rules]]\nglob = "*.png\npreset = "x"\n')
    with pytest.raises(SettingsFileError) as info:
        settings_for_source(source(tmp_path / "brick.png"))
    assert info.value.path == str(bad)
    assert info.value.line == 3 and info.value.column is not None
    assert str(info.value).startswith(f"{bad}:3:") and "TOML syntax error" in str(info.value)


@pytest.mark.parametrize("text, fragment", [
    ('root = "yes"\n', "'root' must be true or false"),
    ('rules = 3\n', "'rules' must be an array of tables"),
    ('rules = [1]\n', "rules[0] is a int, not a table"),
    ('[[rules]]\npreset = "x"\n', "rules[0] has no 'glob'"),
    ('[[rules]]\nglob = 5\n', "rules[0] has a 'glob' that is not a non-empty string"),
    ('[[rules]]\nglob = ""\n', "rules[0] has a 'glob' that is not a non-empty string"),
    ('[[rules]]\nglob = "ui/"\n', "glob 'ui/' ends with '/' and would match no file; write 'ui/**'"),
    ('quality = "high"\n', "unknown top-level key 'quality'"),
    ('[[rule]]\nglob = "*"\n', "unknown top-level key 'rule'"),
])
def test_malformed_folder_file(tmp_path: pathlib.Path, text: str, fragment: str) -> None:
    bad = write(tmp_path / "oxy.toml", text)
    with pytest.raises(SettingsFileError) as info:
        settings_for_source(source(tmp_path / "brick.png"))
    assert info.value.path == str(bad) and fragment in str(info.value)


@pytest.mark.parametrize("text", ["root = true\n", '[[rules]]\nglob = "*"\n'])
def test_structural_keys_refused_in_a_sidecar(tmp_path: pathlib.Path, text: str) -> None:
    write(tmp_path / "brick.png.oxy.toml", text)
    with pytest.raises(SettingsFileError, match="belongs in a folder's oxy.toml"):
        settings_for_source(source(tmp_path / "brick.png"))


def test_non_utf8_and_directory_settings_files(tmp_path: pathlib.Path) -> None:
    (tmp_path / "brick.png.oxy.toml").write_bytes(b'preset = "\xff"\n')
    with pytest.raises(SettingsFileError, match="not UTF-8"):
        settings_for_source(source(tmp_path / "brick.png"))
    (tmp_path / "sub" / "oxy.toml").mkdir(parents=True)
    with pytest.raises(SettingsFileError, match="cannot read"):
        settings_for_source(source(tmp_path / "sub" / "x.png"))
