import pytest

from orchestrator.provision.wordnet import lexnames_from_man_page
from workers.errors import SetupError

CATEGORIES = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


def man_page(names):
    rows = "\n".join(f"{i:02d}\t{name}\tsome description  " for i, name in enumerate(names))
    return f".TH LEXNAMES 5WN\n.TS\nl l l.\n\\fBFile Number\\fP\t\\fBName\\fP\n_\n{rows}\n.TE\n"


def test_lexnames_lines_follow_nltk_format():
    names = ["adj.all", "adj.pert", "adv.all"] + [f"noun.n{i}" for i in range(26)]
    names += [f"verb.v{i}" for i in range(15)] + ["adj.ppl"]
    text = lexnames_from_man_page(man_page(names))
    lines = text.splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3"
    assert lines[2] == "02\tadv.all\t4"
    assert lines[3] == "03\tnoun.n0\t1"
    assert lines[-1] == "44\tadj.ppl\t3"
    for line in lines:
        number, name, category = line.split("\t")
        assert int(category) == CATEGORIES[name.split(".")[0]]


def test_lexnames_refuses_a_truncated_table():
    with pytest.raises(SetupError, match="expected 45"):
        lexnames_from_man_page(man_page(["adj.all", "noun.Tops"]))


def test_state_lives_in_the_checkout_else_in_the_home_folder(tmp_path, monkeypatch):
    from workers import paths

    monkeypatch.delenv("ORCH_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    site = tmp_path / "site-packages"  # a wheel install: no pyproject.toml beside the packages
    monkeypatch.setattr(paths, "PROJECT_ROOT", site)
    assert paths.orch_home() == tmp_path / "home" / ".orch"
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text("[project]\nname = 'orch'\n")
    monkeypatch.setattr(paths, "PROJECT_ROOT", checkout)
    assert paths.orch_home() == checkout / ".orch"
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / "shared"))
    assert paths.orch_home() == tmp_path / "shared"
