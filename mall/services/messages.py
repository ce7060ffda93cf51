"""Messages to members: the inbox, always, and e-mail, SMS and app push where the template asks.

Every message has a *purpose* (what it is for: ``expiry_reminder``, ``win_back``...) and a
*period* (which occasion of that purpose: an expiry date and reminder day, a cooldown window...).
``(member, purpose, period)`` is unique in the database, so sending an occasion twice — a job
re-run, two workers at once, a double click on a broadcast — inserts nothing the second time and
reaches no channel again: the other channels are called only for the rows this call inserted,
after its transaction commits.

The words come from the purpose's ``MessageTemplate`` (staff edit them in the admin, in Chinese
and English, with the placeholders listed in ``PURPOSES``); a purpose whose template row is
missing uses the defaults below. The text is rendered when sent, in both languages.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from common import audit
from common.errors import InvalidFields
from mall.channels import channel
from mall.errors import BroadcastSent, MessageNotFound
from mall.models import Broadcast, Member, Message, MessageKind, MessageTemplate

logger = logging.getLogger(__name__)

CHUNK = 2000  # rows per INSERT: bounded statements and memory for any population
LANGUAGES = ("zh-hans", "en")


@dataclass(frozen=True)
class Purpose:
    kind: str
    placeholders: tuple[str, ...]
    title: str
    body: str
    title_en: str
    body_en: str
    link: str = ""
    label: Promise | str = ""


PURPOSES: dict[str, Purpose] = {
    "welcome": Purpose(
        MessageKind.OFFER, ("name", "discount", "days"),
        "欢迎加入会员", "{name}，欢迎加入！{days}天内首次兑换立减{discount}积分，快去积分商城看看吧。",
        "Welcome", "Welcome, {name}! Your first redemption within {days} days costs {discount} "
        "points less. Have a look at the points mall.",
        "/mall/", _("Welcome (on joining)"),
    ),
    "expiry_reminder": Purpose(
        MessageKind.POINTS, ("points", "date", "days"),
        "积分即将过期", "您有{points}积分将于{date}过期（还有{days}天）。兑换好礼，别让积分白白过期。",
        "Points expiring soon", "{points} of your points expire on {date} ({days} days left). "
        "Redeem them for a gift before they go.",
        "/mall/?affordable=1", _("Expiry reminder"),
    ),
    "win_back": Purpose(
        MessageKind.POINTS, ("points", "days"),
        "好久不见，送您{points}积分",
        "您已{days}天没有来了，我们为您送上{points}积分，欢迎回来逛逛积分商城。",
        "We miss you: {points} points for you", "It has been {days} days. Here are {points} "
        "points to welcome you back to the points mall.",
        "/mall/", _("Win-back (inactive members)"),
    ),
    "tier_upgrade": Purpose(
        MessageKind.TIER, ("tier", "old_tier"),
        "恭喜升级为{tier}", "恭喜！您已从{old_tier}升级为{tier}，享受更高的积分倍率。",
        "You are now {tier}", "Congratulations! You moved up from {old_tier} to {tier} and "
        "earn at a higher rate.",
        "/account/", _("Tier upgrade"),
    ),
    "tier_grace": Purpose(
        MessageKind.TIER, ("tier", "date", "points"),
        "保级提醒", "您的{tier}等级将于{date}到期。在此之前再获得{points}积分即可保级。",
        "Keep your tier", "Your {tier} tier lasts until {date}. Earn {points} more points by "
        "then to keep it.",
        "/account/", _("Tier grace (falls below)"),
    ),
    "tier_downgrade": Purpose(
        MessageKind.TIER, ("tier", "old_tier"),
        "会员等级调整为{tier}",
        "保级期已结束，您的会员等级由{old_tier}调整为{tier}。继续积累积分即可重新升级。",
        "Your tier is now {tier}", "The grace period has ended and your tier moved from "
        "{old_tier} to {tier}. Earn points to move up again.",
        "/account/", _("Tier downgrade"),
    ),
    "badge_earned": Purpose(
        MessageKind.NOTICE, ("badge",),
        "恭喜获得「{badge}」徽章", "您获得了「{badge}」徽章，快去看看您的全部徽章吧。",
        "You earned the {badge} badge", "You earned the {badge} badge. Have a look at all your "
        "badges.",
        "/badges/", _("Badge earned"),
    ),
    "free_draw": Purpose(
        MessageKind.OFFER, ("days", "lottery", "lottery_id"),
        "连续签到{days}天，送您一次免费抽奖",
        "您已连续签到{days}天，获得「{lottery}」免费抽奖一次，快去抽奖吧！",
        "{days}-day streak: a free draw for you", "You checked in {days} days in a row and "
        "earned a free draw of {lottery}. Go and draw!",
        "/lottery/{lottery_id}/", _("Free draw (check-in streak)"),
    ),
    "ledger_mismatch": Purpose(
        MessageKind.SYSTEM, ("mismatches", "accounts", "run"),
        "积分对账发现{mismatches}处不一致",
        "第{run}次对账检查了{accounts}个账户，发现{mismatches}处不一致，请在后台查看明细。",
        "Ledger reconciliation: {mismatches} mismatches", "Reconciliation run {run} checked "
        "{accounts} accounts and found {mismatches} mismatches. See the details in the admin.",
        "/admin/", _("Ledger mismatch (to auditors)"),
    ),
}

PURPOSE_CHOICES = [(code, purpose.label) for code, purpose in PURPOSES.items()]


@dataclass(frozen=True)
class Outgoing:
    """One message to send: its member, its occasion and the values of its placeholders."""

    member_id: int
    period: str
    context: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Words:
    """What a message says, before its placeholders are filled."""

    kind: str
    title: str
    body: str
    title_en: str = ""
    body_en: str = ""
    link: str = ""
    channels: tuple[str, ...] = ()

    @classmethod
    def of_purpose(cls, purpose: str) -> Words:
        template = MessageTemplate.objects.filter(purpose=purpose).first()
        if template is None:
            default = PURPOSES[purpose]
            return cls(default.kind, default.title, default.body, default.title_en,
                       default.body_en, default.link)
        return cls.of_template(template)

    @classmethod
    def of_template(cls, template: MessageTemplate | Broadcast) -> Words:
        channels = tuple(name for name in ("email", "sms", "push") if getattr(template, name))
        return cls(template.kind, template.title, template.body, template.title_en,
                   template.body_en, template.link, channels)

    def render(self, context: Mapping[str, object]) -> dict[str, str]:
        """The message's columns with ``context`` filled in, in Chinese and English."""
        zh = {key: display(value, "zh-hans") for key, value in context.items()}
        en = {key: display(value, "en") for key, value in context.items()}
        return {
            "title": fill(self.title, zh)[:200],
            "body": fill(self.body, zh),
            "title_en": fill(self.title_en, en)[:200],
            "body_en": fill(self.body_en, en),
            "link": fill(self.link, zh)[:200],
        }


class _Blank(dict):
    def __missing__(self, key):  # a placeholder the caller has no value for stays visible
        return "{" + key + "}"


def fill(text: str, values: Mapping[str, str]) -> str:
    try:
        return string.Formatter().vformat(text, (), _Blank(values))
    except (ValueError, IndexError, KeyError, AttributeError):
        return text  # a malformed template (validated in the admin) is shown as written


def display(value: object, language: str) -> str:
    """A placeholder's value as a member reads it: 1,288 points, 2026-12-31, a name in their
    language (a lazy translation or a ``{language: text}`` mapping)."""
    if callable(value) and not isinstance(value, Promise):
        value = value(language)
    if isinstance(value, Mapping):
        value = value.get(language) or next(iter(value.values()), "")
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    with translation.override(language):
        return str(value)


def placeholders_of(text: str) -> set[str]:
    """The placeholder names in ``text``; raises ``ValueError`` for malformed braces."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# --------------------------------------------------------------------------- sending


def send(member: Member, purpose: str, *, period: str, context: Mapping[str, object] | None = None,
         now: datetime | None = None) -> bool:
    """Send one message; False when this (member, purpose, period) was sent before."""
    return send_many(purpose, [Outgoing(member.pk, period, context or {})], now=now) == 1


def send_many(purpose: str, outgoing: Iterable[Outgoing], *, now: datetime | None = None,
              words: Words | None = None) -> int:
    """Send ``purpose``'s message to many members at once; returns how many were new.

    Set-based: one ``INSERT ... ON CONFLICT DO NOTHING`` per ``CHUNK`` rows. Runs in the
    caller's transaction when there is one (a job's postings and their messages commit
    together); e-mail, SMS and push go out after the commit, only for the rows inserted here.
    """
    words = words or Words.of_purpose(purpose)
    now = now or timezone.now()
    sent = 0
    batch: list[Outgoing] = []
    for item in outgoing:
        batch.append(item)
        if len(batch) == CHUNK:
            sent += _insert(purpose, words, batch, now)
            batch = []
    if batch:
        sent += _insert(purpose, words, batch, now)
    return sent


_INSERT = """
    INSERT INTO mall_message (member_id, purpose, period, kind, title, body, title_en, body_en,
                              link, created_at)
    SELECT m, %s, p, %s, t, b, te, be, l, %s
      FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                  %s::text[]) AS x(m, p, t, b, te, be, l)
    ON CONFLICT (member_id, purpose, period) DO NOTHING
    RETURNING id
"""


def _insert(purpose: str, words: Words, batch: list[Outgoing], now: datetime) -> int:
    columns: dict[str, list] = {name: [] for name in ("member", "period", "title", "body",
                                                      "title_en", "body_en", "link")}
    seen = set()
    for item in batch:
        if (item.member_id, item.period) in seen:
            continue  # the same occasion twice in one call: ON CONFLICT cannot see its own rows
        seen.add((item.member_id, item.period))
        text = words.render(item.context)
        columns["member"].append(item.member_id)
        columns["period"].append(item.period[:64])
        for name in ("title", "body", "title_en", "body_en", "link"):
            columns[name].append(text[name])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INSERT, [purpose, words.kind, now, *columns.values()])
        ids = [row[0] for row in cursor.fetchall()]
        if ids and words.channels:
            channels = words.channels
            transaction.on_commit(lambda: deliver(ids, channels))
    return len(ids)


def deliver(message_ids: list[int], channels: Iterable[str]) -> int:
    """Send inserted messages through the other channels; a channel's failure is logged and
    does not stop the rest (the inbox copy is already there)."""
    delivered = 0
    backends = [channel(name) for name in channels]
    messages = Message.objects.filter(pk__in=message_ids).select_related("member")
    language = settings.LANGUAGE_CODE
    for message in messages.iterator(chunk_size=CHUNK):
        title, body = message.text(language)
        for backend in backends:
            try:
                delivered += bool(backend.send(message.member, title, body, message.link))
            except Exception:  # one broken channel must not lose the rest of the batch
                logger.exception("%s delivery of message %s failed", backend.name, message.pk)
    return delivered


# --------------------------------------------------------------------------- reading


def inbox(member: Member):
    """The member's messages, newest first."""
    return Message.objects.filter(member=member).order_by("-created_at", "-id")


def unread_count(member: Member) -> int:
    return Message.objects.filter(member=member, read_at__isnull=True).count()


def mark_read(member: Member, message_id: int, *, now: datetime | None = None) -> Message:
    """Mark one of the member's messages read (again is a no-op); another's is not found."""
    message = Message.objects.filter(member=member, pk=message_id).first()
    if message is None:
        raise MessageNotFound()
    if message.read_at is None:
        message.read_at = now or timezone.now()
        Message.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=message.read_at)
    return message


def mark_all_read(member: Member, *, now: datetime | None = None) -> int:
    return Message.objects.filter(member=member, read_at__isnull=True).update(
        read_at=now or timezone.now())


# --------------------------------------------------------------------------- broadcasts


def broadcast_recipients(broadcast: Broadcast, *, now: datetime | None = None):
    """The members a broadcast reaches: active members (not staff) of its tiers and of its RFM
    segments (``Member.segment``, from the last nightly run; none named: everyone, scored or
    not), inactive for at least its days where it names some."""
    from mall.selectors import inactive_members

    members = Member.objects.filter(is_active=True, is_staff=False)
    if broadcast.tiers:
        members = members.filter(tier__in=broadcast.tiers)
    if broadcast.segments:
        members = members.filter(segment__in=broadcast.segments)
    if broadcast.inactive_days:
        members = members.filter(pk__in=inactive_members(broadcast.inactive_days, now=now))
    return members


def send_broadcast(broadcast: Broadcast, *, now: datetime | None = None) -> int:
    """Send a broadcast to its segment; sending it again reaches only members not reached yet.
    Returns how many members it reached this time."""
    now = now or timezone.now()
    words = Words.of_template(broadcast)
    ids = broadcast_recipients(broadcast, now=now).values_list("pk", flat=True).order_by("pk")
    with transaction.atomic():
        sent = send_many("broadcast", (Outgoing(pk, f"b{broadcast.pk}") for pk in ids.iterator()),
                         now=now, words=words)
        Broadcast.objects.filter(pk=broadcast.pk).update(
            sent_at=broadcast.sent_at or now,
            recipients=Message.objects.filter(purpose="broadcast", period=f"b{broadcast.pk}").count(),
        )
    broadcast.refresh_from_db(fields=["sent_at", "recipients"])
    return sent


def install_templates(model=MessageTemplate) -> int:
    """Create the template row of every purpose that has none (the defaults above), so staff
    find each one in the admin; existing rows, edited or not, are left alone. ``model`` is a
    migration's historical model."""
    existing = set(model.objects.values_list("purpose", flat=True))
    rows = [
        model(purpose=code, kind=p.kind, title=p.title, body=p.body, title_en=p.title_en,
                        body_en=p.body_en, link=p.link)
        for code, p in PURPOSES.items() if code not in existing
    ]
    model.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# --------------------------------------------------------------------------- staff's words (admin)

BROADCAST = "broadcast"  # the purpose of every broadcast's messages (``send_broadcast``)
TEXT_FIELDS = ("title", "body", "title_en", "body_en", "link")

# What the previews fill each placeholder with (a purpose's other placeholders stay visible).
SAMPLES: dict[str, object] = {
    "points": 1288,
    "date": date(2026, 12, 31),
    "days": 30,
    "tier": {"zh-hans": "金卡会员", "en": "Gold"},
    "old_tier": {"zh-hans": "银卡会员", "en": "Silver"},
    "name": {"zh-hans": "小宝", "en": "Xiaobao"},
    "discount": 50,
    "mismatches": 2,
    "accounts": 12880,
    "run": 128,
    "badge": {"zh-hans": "积分达人", "en": "Points Pro"},
    "lottery": {"zh-hans": "连续签到7天抽大奖", "en": "7-day streak draw"},
    "lottery_id": "1",
}


def purpose_label(code: str) -> str:
    if code == BROADCAST:
        return str(_("Broadcast"))
    purpose = PURPOSES.get(code)
    return str(purpose.label) if purpose is not None and purpose.label else code


def placeholders_allowed(purpose: str) -> tuple[str, ...]:
    """The placeholders ``purpose``'s words may use (none for a broadcast or an unknown purpose)."""
    known = PURPOSES.get(purpose)
    return known.placeholders if known is not None else ()


def _braced(names: Iterable[str]) -> str:
    return ", ".join("{" + name + "}" for name in names)


def text_problems(text: str, allowed: Iterable[str]) -> list[str]:
    """Why staff's ``text`` cannot be sent with the placeholders ``allowed`` (empty: it can).

    A placeholder is a bare ``{name}`` of the purpose's; a brace itself is written ``{{`` or
    ``}}``. Refused: an unbalanced brace, ``{}``, a format or a conversion (``{points:>5}``,
    ``{name!r}``), an attribute or an index (``{tier.name}``) and any other name.
    """
    allowed = tuple(allowed)
    try:
        parsed = list(string.Formatter().parse(text or ""))
    except ValueError:
        return [gettext("A brace is not closed or not opened: write a placeholder as {name}, "
                        "and {{ or }} for a brace itself.")]
    problems, unknown = [], []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "" or spec or conversion:
            problems.append(gettext("Write a placeholder as a name in braces, such as {points}, "
                                    "with nothing else inside; {{ and }} for a brace itself."))
        elif name not in allowed and name not in unknown:
            unknown.append(name)
    if unknown:
        if allowed:
            problems.append(gettext("Unknown placeholder %(unknown)s: this message may use "
                                    "%(allowed)s.") % {"unknown": _braced(unknown),
                                                       "allowed": _braced(allowed)})
        else:
            problems.append(gettext("Unknown placeholder %(unknown)s: this message has no "
                                    "placeholders (write {{ and }} for a brace itself).")
                            % {"unknown": _braced(unknown)})
    return list(dict.fromkeys(problems))


def link_problems(link: str) -> list[str]:
    """A message's link is a page of the member site (a path), never another site."""
    if link and (not link.startswith("/") or link.startswith(("//", "/\\"))):
        return [gettext("Enter a page of the member site starting with /, e.g. /mall/.")]
    return []


def words_problems(values: Mapping[str, str], allowed: Iterable[str]) -> dict[str, list[str]]:
    """``text_problems`` of each text field in ``values`` (and ``link_problems`` of its link),
    by field name; empty when every field can be sent."""
    allowed = tuple(allowed)
    errors = {}
    for name in TEXT_FIELDS:
        problems = text_problems(values.get(name) or "", allowed)
        if name == "link":
            problems += link_problems(values.get(name) or "")
        if problems:
            errors[name] = problems
    return errors


def preview(words: Words, placeholders: Iterable[str] = ()) -> dict[str, dict[str, str]]:
    """What a member reads, per language (``LANGUAGES``), with ``SAMPLES`` for ``placeholders``:
    ``{language: {"title", "body", "link"}}``. English falls back to the Chinese where none was
    written, as ``Message.text`` does."""
    context = {name: SAMPLES[name] for name in placeholders if name in SAMPLES}
    text = words.render(context)
    chinese = {"title": text["title"], "body": text["body"], "link": text["link"]}
    english = dict(chinese)
    if text["title_en"]:
        english.update(title=text["title_en"], body=text["body_en"] or text["body"])
    return {"zh-hans": chinese, "en": english}


def save_template(template: MessageTemplate) -> MessageTemplate:
    """Save staff's edit of a purpose's words. Raises ``InvalidFields`` for a placeholder the
    purpose does not have, a malformed brace or a link off the member site (the admin form
    shows the same messages first). Messages already sent keep their text."""
    errors = words_problems({name: getattr(template, name) for name in TEXT_FIELDS},
                            placeholders_allowed(template.purpose))
    if errors:
        raise InvalidFields(errors)
    template.updated_at = timezone.now()
    template.save()
    return template


def save_broadcast(broadcast: Broadcast, *, staff: Member | None = None) -> Broadcast:
    """Save a broadcast draft (``staff`` is recorded as its author when it is new).

    Raises ``InvalidFields`` for a placeholder (a broadcast has none), a malformed brace or a link
    off the member site, and ``BroadcastSent`` once it has been sent: what went out stays as it
    went out (the row is locked to check, so an edit cannot slip in beside the send's update).
    """
    errors = words_problems({name: getattr(broadcast, name) for name in TEXT_FIELDS}, ())
    if errors:
        raise InvalidFields(errors)
    with transaction.atomic():
        if broadcast.pk is not None:
            sent_at = (Broadcast.objects.select_for_update().filter(pk=broadcast.pk)
                       .values_list("sent_at", flat=True).first())
            if sent_at is not None:
                raise BroadcastSent()
        elif staff is not None:
            broadcast.created_by = staff
        broadcast.save()
    return broadcast


def send_draft(broadcast: Broadcast, *, now: datetime | None = None) -> int:
    """Send a draft broadcast, once (the admin's send button); returns how many members it
    reached. Raises ``BroadcastSent`` when it has been sent: the row is locked first, so a
    double click or two staff at once send it once and the second is told so (``send_broadcast``
    itself would only reach members not reached yet)."""
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.sent_at is not None:
            raise BroadcastSent()
        sent = send_broadcast(locked, now=now)
        audit.record("broadcast.send", locked, changes={"sent_at": (None, locked.sent_at)},
                     data={"recipients": locked.recipients, "tiers": list(locked.tiers),
                           "segments": list(locked.segments), "inactive_days": locked.inactive_days})
    broadcast.sent_at, broadcast.recipients = locked.sent_at, locked.recipients
    return sent
