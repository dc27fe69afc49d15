"""Provision WordNet 3.0 for nltk into the project's own NLTK data folder.

nltk's downloader is tried first; where its server is unreachable, the corpus is built from
Debian's ``wordnet-base`` and ``wordnet-sense-index`` packages plus a ``lexnames`` file
derived from the ``lexnames.5WN`` man page those packages ship. Idempotent: a complete
corpus is left alone.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from workers.errors import SetupError
from workers.paths import nltk_data_dir
from workers.wordnet import WORDNET_FILES, wordnet_dir

log = logging.getLogger(__name__)

DEBIAN_PACKAGES = ("wordnet-base", "wordnet-sense-index")
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def wordnet_complete(corpus: Path) -> bool:
    return all((corpus / name).is_file() for name in WORDNET_FILES)


def lexnames_from_man_page(text: str) -> str:
    """The 45 ``NN<TAB>lex.file<TAB>category`` lines from the lexnames(5WN) table."""
    lines = []
    for number, name in re.findall(r"^(\d\d)\t+(\w+\.\w+)\s*\t", text, flags=re.MULTILINE):
        lines.append(f"{number}\t{name}\t{_CATEGORY[name.split('.')[0]]}")
    if len(lines) != 45:
        raise SetupError(f"expected 45 lexicographer files in lexnames(5WN), found {len(lines)}")
    return "\n".join(lines) + "\n"


def _try_nltk_downloader(target: Path) -> bool:
    import nltk

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        # its "Error loading wordnet" is no news: the Debian fallback follows
        errors = io.StringIO()
        ok = nltk.download(
            "wordnet",
            download_dir=str(target),
            quiet=True,
            raise_on_error=False,
            print_error_to=errors,
        )
        if errors.getvalue().strip():
            log.info("nltk downloader: %s", errors.getvalue().strip())
    except Exception as exc:  # any network failure means: fall back to Debian
        log.info("nltk downloader failed: %s", exc)
        ok = False
    finally:
        socket.setdefaulttimeout(previous)
    zipped = target / "corpora" / "wordnet.zip"
    if ok and zipped.is_file() and not wordnet_dir(target).exists():
        shutil.unpack_archive(zipped, target / "corpora")
    return ok and wordnet_complete(wordnet_dir(target))


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no output"


def _apt_download(workdir: Path) -> list[Path]:
    def download() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["apt-get", "download", *DEBIAN_PACKAGES], cwd=workdir, capture_output=True, text=True
        )

    try:
        result = download()
        if result.returncode != 0:  # package lists may be empty on a fresh machine
            subprocess.run(["apt-get", "update"], capture_output=True, text=True)
            result = download()
    except FileNotFoundError as exc:
        raise SetupError(
            "WordNet: nltk's downloader failed and apt-get is not available; download WordNet 3.0 "
            f"into {nltk_data_dir()}/corpora/wordnet by hand"
        ) from exc
    if result.returncode != 0:
        raise SetupError(
            f"WordNet: `apt-get download {' '.join(DEBIAN_PACKAGES)}` failed "
            f"({_last_line(result.stderr)}); "
            "run `apt-get update` (as root) and retry `orch setup`"
        )
    return sorted(workdir.glob("*.deb"))


def _build_from_debian(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for deb in _apt_download(work):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "x")], check=True)
        source = work / "x" / "usr" / "share" / "wordnet"
        man_page = work / "x" / "usr" / "share" / "man" / "man5" / "lexnames.5WN.gz"
        staging = target / "corpora" / ".wordnet-staging"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        (staging / "lexnames").write_text(lexnames_from_man_page(gzip.open(man_page, "rt").read()))
        if not wordnet_complete(staging):
            missing = [n for n in WORDNET_FILES if not (staging / n).is_file()]
            raise SetupError(f"WordNet from Debian is incomplete, missing: {', '.join(missing)}")
        final = wordnet_dir(target)
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)


def provision_wordnet(target: Path | None = None) -> Path:
    """Make ``<target>/corpora/wordnet`` a complete WordNet 3.0; return the corpus folder."""
    target = target or nltk_data_dir()
    corpus = wordnet_dir(target)
    if wordnet_complete(corpus):
        return corpus
    target.mkdir(parents=True, exist_ok=True)
    if not _try_nltk_downloader(target):
        log.info("nltk's WordNet server unreachable; building WordNet from Debian packages")
        _build_from_debian(target)
    return corpus
