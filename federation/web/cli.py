"""`regies user add | password | remove | list`: web interface accounts (régie staff, hub coordinators)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from federation.config import Settings
from federation.errors import CommandError
from federation.web.users import (
    ROLES,
    UserError,
    UserInfo,
    WebUser,
    create_user,
    list_users,
    remove_user,
    set_password,
)

SettingsLoader = Callable[[argparse.Namespace], Settings]
Result = TypeVar("Result")


def _with_database(settings: Settings, work: Callable[[AsyncEngine], Awaitable[Result]]) -> Result:
    from federation.storage import migrate
    from federation.storage.engine import create_engine

    async def run() -> Result:
        engine = create_engine(settings.database_url)
        try:
            if await migrate.current_revision(engine) is None:
                raise CommandError(f"no node database at {settings.database_url}; run `regies init` first")
            await migrate.upgrade(engine)
            return await work(engine)
        except UserError as exc:  # the account store's refusals already say what is wrong
            raise CommandError(str(exc)) from exc
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask the password on: pipe it with --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise CommandError("the two passwords differ; nothing changed")
    return password


def cmd_user_add(args: argparse.Namespace, load: SettingsLoader) -> int:
    settings = load(args)
    password = _read_password(args.password_stdin)

    async def add(engine: AsyncEngine) -> WebUser:
        return await create_user(engine, args.username, password, args.role, args.region)

    user = _with_database(settings, add)
    where = f" (region {user.region})" if user.region else ""
    print(f"Created user '{user.username}' with role {user.role}{where}. Log in at {settings.public_base_url}/login")
    return 0


def cmd_user_password(args: argparse.Namespace, load: SettingsLoader) -> int:
    settings = load(args)
    password = _read_password(args.password_stdin)

    async def change(engine: AsyncEngine) -> None:
        await set_password(engine, args.username, password)

    _with_database(settings, change)
    print(f"New password for '{args.username}'; its sessions are closed.")
    return 0


def cmd_user_remove(args: argparse.Namespace, load: SettingsLoader) -> int:
    async def remove(engine: AsyncEngine) -> None:
        await remove_user(engine, args.username)

    _with_database(load(args), remove)
    print(f"Removed user '{args.username}'.")
    return 0


def cmd_user_list(args: argparse.Namespace, load: SettingsLoader) -> int:
    infos: list[UserInfo] = _with_database(load(args), list_users)
    print(f"{'USERNAME':<24} {'ROLE':<10} {'REGION':<7} {'CREATED':<26} LAST LOGIN")
    for info in infos:
        print(
            f"{info.username:<24} {info.role:<10} {info.region or '-':<7} {info.created_at:<26} "
            f"{info.last_login_at or '-'}"
        )
    return 0


def add_commands(commands: Any, load: SettingsLoader) -> None:
    """Register `regies user` on the main parser."""
    user = commands.add_parser("user", help="accounts of the web interface (staff, coordinators)")
    actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="create an account (asks for its password)")
    add.add_argument("username")
    add.add_argument(
        "--role",
        choices=ROLES,
        default="staff",
        help="on a node: admin or staff (default); on a hub: national or regional coordinator",
    )
    add.add_argument("--region", help="INSEE region code of a regional coordinator, e.g. 84")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.set_defaults(handler=lambda args: cmd_user_add(args, load))
    password = actions.add_parser("password", help="set a new password (and close the account's sessions)")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true", help="read it from the first line of stdin")
    password.set_defaults(handler=lambda args: cmd_user_password(args, load))
    remove = actions.add_parser("remove", help="delete an account")
    remove.add_argument("username")
    remove.set_defaults(handler=lambda args: cmd_user_remove(args, load))
    actions.add_parser("list", help="list accounts (never their passwords)").set_defaults(
        handler=lambda args: cmd_user_list(args, load)
    )
