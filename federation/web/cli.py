"""`regies user add | password | remove | list`: web interface accounts (régie staff, hub coordinators)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from federation.errors import CommandError
from federation.web.users import ROLES, UserError, create_user, list_users, remove_user, set_password

if TYPE_CHECKING:
    from federation.node import Node


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask the password on: pipe it with --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise CommandError("the two passwords differ; nothing changed")
    return password


async def cmd_user_add(args: argparse.Namespace, node: Node) -> int:
    password = _read_password(args.password_stdin)
    user = await create_user(node.engine, args.username, password, args.role, args.region)
    where = f" (region {user.region})" if user.region else ""
    print(
        f"Created user '{user.username}' with role {user.role}{where}. Log in at {node.settings.public_base_url}/login"
    )
    return 0


async def cmd_user_password(args: argparse.Namespace, node: Node) -> int:
    password = _read_password(args.password_stdin)
    await set_password(node.engine, args.username, password)
    print(f"New password for '{args.username}'; its sessions are closed.")
    return 0


async def cmd_user_remove(args: argparse.Namespace, node: Node) -> int:
    await remove_user(node.engine, args.username)
    print(f"Removed user '{args.username}'.")
    return 0


async def cmd_user_list(args: argparse.Namespace, node: Node) -> int:
    infos = await list_users(node.engine)
    print(f"{'USERNAME':<24} {'ROLE':<10} {'REGION':<7} {'CREATED':<26} LAST LOGIN")
    for info in infos:
        print(
            f"{info.username:<24} {info.role:<10} {info.region or '-':<7} {info.created_at:<26} "
            f"{info.last_login_at or '-'}"
        )
    return 0


async def run_user(args: argparse.Namespace, node: Node) -> int:
    """`regies user ACTION`; the account store's refusals already say what is wrong."""
    try:
        result: int = await args.action_handler(args, node)
    except UserError as exc:
        raise CommandError(str(exc)) from exc
    return result


def configure_user(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="user_command", required=True, metavar="ACTION")
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
    add.set_defaults(action_handler=cmd_user_add)
    password = actions.add_parser("password", help="set a new password (and close the account's sessions)")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true", help="read it from the first line of stdin")
    password.set_defaults(action_handler=cmd_user_password)
    remove = actions.add_parser("remove", help="delete an account")
    remove.add_argument("username")
    remove.set_defaults(action_handler=cmd_user_remove)
    actions.add_parser("list", help="list accounts (never their passwords)").set_defaults(action_handler=cmd_user_list)
