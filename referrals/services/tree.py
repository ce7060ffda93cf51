"""The invite tree and the team tree: every write to ``Node``.

Invite codes. A member's code is derived from their id: the first 40 bits of an HMAC-SHA256 of
the id under ``SECRET_KEY``, in base32 (8 characters, A-Z and 2-7) — the code the invite page
showed before codes were stored, so printed QR codes keep working. It cannot be guessed from the
id or walked like a sequence. On the (rare) clash with another member's code the next attempt's
derivation is used; the unique index decides.

Binding. A member gets an inviter once (at sign-up, or later from the shop's member hook while
they have no paid order and no invitee of their own) and keeps it. Self-invites and cycles are
refused. The node stores the inviter's own two inviters and the depth, and joins the team of the
inviter (a leader) or the inviter's team.

Locks. Nodes are locked ancestors first (by depth, then member id) and before anything of the
ledger (``points.services.lock_objects`` has the project's lock order).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from common import events
from referrals.errors import AlreadyInvited, InvalidInviteCode, InviteClosed, InviteCycle, SelfInvite
from referrals.models import Node

MAX_CODE_ATTEMPTS = 20


def derive_code(member_id: int, attempt: int = 0) -> str:
    message = f"invite:{member_id}" if attempt == 0 else f"invite:{member_id}:{attempt}"
    digest = hmac.new(settings.SECRET_KEY.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:5]).decode("ascii")


def normalise_code(code: str) -> str:
    # Base32 is upper-case; people type codes in either case.
    return (code or "").strip().upper()


def ensure_nodes(member_ids: Iterable[int]) -> None:
    """Give every member in ``member_ids`` a node (a root: no inviter) if they have none yet.
    Members created by any path (the admin, ``createsuperuser``) get theirs on first use."""
    wanted = set(member_ids)
    for attempt in range(MAX_CODE_ATTEMPTS):
        missing = wanted - set(Node.objects.filter(member_id__in=wanted).values_list("member_id", flat=True))
        if not missing:
            return
        # ignore_conflicts: a concurrent creator of the same node, or a code clash (retried with
        # the next derivation).
        Node.objects.bulk_create([Node(member_id=pk, invite_code=derive_code(pk, attempt))
                                  for pk in sorted(missing)], ignore_conflicts=True)
    raise RuntimeError(f"No free invite code for members {sorted(missing)}.")


def node_of(member_id: int) -> Node:
    node = Node.objects.filter(member_id=member_id).first()
    if node is None:
        ensure_nodes([member_id])
        node = Node.objects.get(member_id=member_id)
    return node


def lock_nodes(member_ids: Iterable[int]) -> dict[int, Node]:
    """Lock the nodes of ``member_ids`` (FOR UPDATE), ancestors first, and return them fresh with
    their members. A node missing is created first."""
    ids = sorted({pk for pk in member_ids if pk is not None})
    nodes = list(Node.objects.select_for_update(of=("self",)).select_related("member")
                 .filter(member_id__in=ids).order_by("depth", "member_id"))
    if len(nodes) < len(ids):
        ensure_nodes(ids)
        nodes = list(Node.objects.select_for_update(of=("self",)).select_related("member")
                     .filter(member_id__in=ids).order_by("depth", "member_id"))
    return {node.member_id: node for node in nodes}


def inviter_by_code(code: str) -> Node:
    node = Node.objects.filter(invite_code=normalise_code(code)).first()
    if node is None:
        raise InvalidInviteCode()
    return node


def check_code(code: str) -> None:
    """Raise ``InvalidInviteCode`` unless some member holds ``code`` (a sign-up form's check
    before it creates anyone)."""
    inviter_by_code(code)


@transaction.atomic
def bind(member, code: str, *, now: datetime | None = None) -> Node:
    """Make the holder of ``code`` the inviter of ``member``; returns the member's node.

    Binding the inviter the member already has again changes nothing. Raises
    ``InvalidInviteCode`` (no one has the code), ``SelfInvite``, ``InviteCycle`` (the inviter is
    the member's own invitee, however far down), ``AlreadyInvited`` (another inviter is bound)
    and ``InviteClosed`` (the member has a paid order or an invitee of their own already).
    """
    from points.models import Order

    now = now or timezone.now()
    inviter = inviter_by_code(code)
    if inviter.member_id == member.pk:
        raise SelfInvite()
    ensure_nodes([member.pk])
    # Inviter first: an ancestor-to-be is locked before its descendant-to-be.
    locked = lock_nodes([inviter.member_id, member.pk])
    inviter, node = locked[inviter.member_id], locked[member.pk]
    if node.inviter_id == inviter.member_id:
        return node
    if _is_ancestor(member.pk, of=inviter.member_id):
        raise InviteCycle()
    if node.inviter_id is not None:
        raise AlreadyInvited()
    # Binding later would have to rewrite the chains and teams below: only a fresh member binds.
    if node.direct_count or Order.objects.filter(member_id=member.pk).exists():
        raise InviteClosed()
    node.inviter_id = inviter.member_id
    node.inviter_2_id = inviter.inviter_id
    node.inviter_3_id = inviter.inviter_2_id
    node.depth = inviter.depth + 1
    node.invited_at = now
    node.leader_id = inviter.member_id if inviter.is_leader else inviter.leader_id
    node.save(update_fields=["inviter", "inviter_2", "inviter_3", "depth", "invited_at", "leader"])
    Node.objects.filter(pk=inviter.pk).update(direct_count=F("direct_count") + 1)
    events.announce("invitee", inviter.member_id, at=now)
    return node


def retire_code(member_id: int) -> None:
    """A closed account's invite code stops inviting: it is replaced by one no typed code can
    match (``normalise_code`` upper-cases, this is lower case), so a printed link of theirs binds
    no one. The node keeps its place in both trees: invitees keep their inviter, and rewards pass
    an inactive member by (``referrals.services.orders``)."""
    import secrets

    Node.objects.filter(member_id=member_id).update(invite_code=f"x{secrets.token_hex(7)}")


def _is_ancestor(member_id: int, *, of: int) -> bool:
    """Whether ``member_id`` is ``of`` itself or above it in the invite tree (a walk up; only a
    binding asks)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE up(member_id) AS (
                SELECT inviter_id FROM referrals_node WHERE member_id = %s
                UNION
                SELECT n.inviter_id FROM referrals_node n JOIN up ON n.member_id = up.member_id
            )
            SELECT EXISTS (SELECT 1 FROM up WHERE member_id = %s)
            """,
            [of, member_id],
        )
        return cursor.fetchone()[0]


def upgrade(member_id: int, *, old_leader: int | None, keep: int, now: datetime) -> int:
    """Make the member (their node locked, in the team of ``old_leader``) a leader, with sliding
    (滑落): the first ``keep`` of their direct invitees, by when they joined, stay in the team
    they leave; the others, with the members below them in that same team (down to the next
    leader), join the new leader's team. A member in no team keeps none: all their invitees join.
    Returns how many members changed team."""
    Node.objects.filter(member_id=member_id).update(is_leader=True, leader_since=now, leader=None)
    kept = keep if old_leader is not None else 0
    invitees = list(Node.objects.filter(inviter_id=member_id)
                    .order_by("invited_at", "member_id").values_list("member_id", flat=True))
    movers = invitees[kept:]
    if not movers:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE moved(member_id) AS (
                SELECT member_id FROM referrals_node
                WHERE member_id = ANY(%(movers)s) AND NOT is_leader
                  AND leader_id IS NOT DISTINCT FROM %(old)s
                UNION
                SELECT n.member_id FROM referrals_node n JOIN moved ON n.inviter_id = moved.member_id
                WHERE NOT n.is_leader AND n.leader_id IS NOT DISTINCT FROM %(old)s
            )
            UPDATE referrals_node SET leader_id = %(new)s
            WHERE member_id IN (SELECT member_id FROM moved)
            """,
            {"movers": movers, "old": old_leader, "new": member_id},
        )
        return cursor.rowcount
