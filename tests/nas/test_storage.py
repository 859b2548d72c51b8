"""A storage URL's password is shown nowhere (error lines, progress, the files of --out), and a
password given through libpq's PGPASSWORD or password file works without being in the URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from searchcli import cli, search_argv

from cnnzoo.nas.search import SearchConfig
from cnnzoo.nas.storage import cause_line, mask_url, scrub
from cnnzoo.nas.study import open_study

SECRET = "Hunter2-s3cret"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://ann:Hunter2-s3cret@db.lan:5432/nas",
            "postgresql+psycopg://ann:***@db.lan:5432/nas",
        ),
        (
            "postgresql+psycopg://ann:Hunter2%40s3cret@db.lan/nas",  # percent-encoded
            "postgresql+psycopg://ann:***@db.lan/nas",
        ),
        (
            "postgresql://ann:Hunter2@s3cret@db.lan/nas",  # malformed: an '@' in the password
            "postgresql://ann:***@db.lan/nas",
        ),
        ("postgresql://ann:Hunter2:s/3?cret@db.lan/nas", "postgresql://ann:***@db.lan/nas"),
        ("ann:Hunter2-s3cret@db.lan/nas", "ann:***@db.lan/nas"),  # no scheme: not a URL at all
        (
            "postgresql://db.lan/nas?user=ann&password=Hunter2-s3cret&sslmode=require",
            "postgresql://db.lan/nas?user=ann&password=***&sslmode=require",
        ),
        ("postgresql+psycopg://ann@db.lan/nas", "postgresql+psycopg://ann@db.lan/nas"),
        ("sqlite:////runs/nas/search.db", "sqlite:////runs/nas/search.db"),
        ("", ""),
    ],
)
def test_mask_url_hides_the_password_and_only_it(url, shown):
    assert mask_url(url) == shown
    assert "Hunter2" not in mask_url(url) and "s3cret" not in mask_url(url)


def test_an_error_naming_the_url_or_the_password_is_scrubbed():
    url = "postgresql+psycopg://ann:Hunter2%40s3cret@db.lan/nas"

    class Wrapped(Exception):  # SQLAlchemy's errors carry the driver's as ``orig``
        orig = RuntimeError(f"could not parse {url}\nsecond line\n")

    line = cause_line(Wrapped(), url)
    assert line == "could not parse postgresql+psycopg://ann:***@db.lan/nas"
    assert scrub("password Hunter2@s3cret refused", url) == "password *** refused"


def search_args(mnist_dir: Path, out: Path, storage: str, *extra: str) -> list[str]:
    proxy = ("--proxy-filters", "4", "--proxy-train-images", "192", "--proxy-val-images", "96")
    return search_argv(mnist_dir, out, "--storage", storage, *proxy, "--strategy", "random", *extra)


def assert_nowhere(secret: str, folder: Path, *texts: str) -> None:
    """``secret`` in none of ``texts`` and in no file under ``folder`` (nor beside it)."""
    for text in texts:
        assert secret not in text, text
    for path in [*folder.parent.glob(f".{folder.name}*"), *folder.rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def with_password(url: str, password: str) -> str:
    user_part, host_part = url.split("@", 1)
    return f"{user_part}:{password}@{host_part}"


def test_an_unreachable_server_is_named_without_its_password(mnist_dir, tmp_path):
    url = f"postgresql+psycopg://ann:{SECRET}@127.0.0.1:1/nas"
    code, out, err = cli(*search_args(mnist_dir, tmp_path / "s", url))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(
        "cnnzoo nas search: error: --storage "
        "'postgresql+psycopg://ann:***@127.0.0.1:1/nas' cannot be used: "
    )
    assert "refused" in err.lower() or "failed" in err.lower(), err  # the cause is there
    assert_nowhere(SECRET, tmp_path / "s", out, err)


def test_a_password_with_an_unencoded_at_sign_is_refused_before_connecting(mnist_dir, tmp_path):
    url = "postgresql+psycopg://ann:Hunter2@s3cret@127.0.0.1:1/nas"
    code, out, err = cli(*search_args(mnist_dir, tmp_path / "s", url))
    assert code == 2 and err.count("\n") == 1, err
    assert "'postgresql+psycopg://ann:***@127.0.0.1:1/nas'" in err and "percent-encoded" in err
    for part in ("Hunter2", "s3cret"):
        assert_nowhere(part, tmp_path / "s", out, err)


def test_a_wrong_password_is_refused_in_one_line_without_it(mnist_dir, tmp_path, postgres_login):
    url, _ = postgres_login
    code, out, err = cli(*search_args(mnist_dir, tmp_path / "s", with_password(url, SECRET)))
    assert code == 2 and err.count("\n") == 1, err
    assert 'password authentication failed for user "searcher"' in err, err
    assert mask_url(with_password(url, SECRET)) in err
    assert_nowhere(SECRET, tmp_path / "s", out, err)


def test_a_search_shows_and_writes_its_password_nowhere(mnist_dir, tmp_path, postgres_login):
    url, password = postgres_login
    secret_url = with_password(url, password)
    out_dir = tmp_path / "s"
    code, out, err = cli(
        *search_args(
            mnist_dir, out_dir, secret_url, "--study", "masked", "--budget-candidates", "1"
        )
    )
    assert code == 0, err
    assert "nas search: 1/1 candidates" in err  # the progress lines were shown
    record = json.loads((out_dir / "search.json").read_text())
    assert record["config"]["storage"] == record["summary"]["storage"] == mask_url(secret_url)
    assert (out_dir / "history.csv").is_file()
    assert_nowhere(password, out_dir, out, err)
    # The same study with other settings: refused, the URL masked.
    code, out, err = cli(
        *search_args(
            mnist_dir,
            out_dir,
            secret_url,
            "--study",
            "masked",
            "--budget-candidates",
            "1",
            "--seed",
            "5",
        )
    )
    assert code == 2 and err.count("\n") == 1, err
    assert f"study 'masked' in {mask_url(secret_url)} exists with a different seed" in err
    assert_nowhere(password, out_dir, out, err)


def test_a_password_from_pgpassword_or_a_password_file(
    mnist_dir, tmp_path, postgres_login, monkeypatch
):
    url, password = postgres_login  # the URL has no password
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    config = SearchConfig(
        dataset="mnist", data_dir=str(mnist_dir), storage=url, study="env", out=str(tmp_path / "s")
    )
    with pytest.raises(ValueError, match="password"):  # none given: refused
        open_study(config)
    monkeypatch.setenv("PGPASSWORD", password)
    assert open_study(config).study_name == "env"
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    host, port = url.split("@", 1)[1].split("/", 1)[0].split(":")
    passfile.write_text(f"{host}:{port}:*:searcher:{password}\n")
    passfile.chmod(0o600)  # libpq ignores a password file others may read
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    assert open_study(config).study_name == "env"
