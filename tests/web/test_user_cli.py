"""`regies user add | list`: accounts for régie staff and hub coordinators, created from the command line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from federation.cli import main


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for key in ("REGIES_DATA_DIR", "REGIES_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    directory = str(tmp_path / "node")
    assert main(["--data-dir", directory, "init", "--name", "Régie des Lilas"]) == 0
    return directory


def test_user_add_and_list(data_dir: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("un mot de passe solide\n"))
    assert main(["--data-dir", data_dir, "user", "add", "marie", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("un autre mot de passe\n"))
    assert (
        main(
            [
                "--data-dir",
                data_dir,
                "user",
                "add",
                "claire",
                "--role",
                "regional",
                "--region",
                "84",
                "--password-stdin",
            ]
        )
        == 0
    )
    assert "Created user 'claire' with role regional (region 84)" in capsys.readouterr().out
    assert main(["--data-dir", data_dir, "user", "list"]) == 0
    listing = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in listing.splitlines()[1:]}
    assert lines["marie"][1:3] == ["staff", "-"]
    assert lines["claire"][1:3] == ["regional", "84"]
    assert "solide" not in listing


@pytest.mark.parametrize(
    ("arguments", "password", "message"),
    [
        (["marie", "--role", "regional"], "un mot de passe solide", "needs --region"),
        (["marie", "--role", "staff", "--region", "84"], "un mot de passe solide", "only regional coordinators"),
        (["marie"], "court", "at least 10 characters"),
    ],
)
def test_user_add_refuses_accounts_that_cannot_work(
    data_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    password: str,
    message: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    assert main(["--data-dir", data_dir, "user", "add", *arguments, "--password-stdin"]) == 1
    assert message in capsys.readouterr().err


def test_user_add_refuses_a_duplicate(
    data_dir: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):
        monkeypatch.setattr("sys.stdin", io.StringIO("un mot de passe solide\n"))
        status = main(["--data-dir", data_dir, "user", "add", "marie", "--role", "admin", "--password-stdin"])
    assert status == 1
    assert "a user named 'marie' already exists" in capsys.readouterr().err


def test_user_password_unlocks_and_remove_deletes(
    data_dir: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*arguments: str, stdin: str = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return main(["--data-dir", data_dir, "user", *arguments])

    assert run("add", "marie", "--password-stdin", stdin="un mot de passe solide\n") == 0
    assert run("password", "marie", "--password-stdin", stdin="un tout nouveau mot\n") == 0
    assert "its sessions are closed" in capsys.readouterr().out
    assert run("password", "nobody", "--password-stdin", stdin="un tout nouveau mot\n") == 1
    assert "no user named 'nobody'" in capsys.readouterr().err
    assert run("remove", "marie") == 0
    assert "Removed user 'marie'." in capsys.readouterr().out
    assert run("list") == 0
    assert "marie" not in capsys.readouterr().out
