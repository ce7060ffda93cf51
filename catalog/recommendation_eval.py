"""How good and how fast the recommendations are (``manage.py evaluate_recommendations``, also
run by ``make bench``). Everything here writes synthetic rows and is meant for a scratch database
of its own (the command makes one); nothing of it runs in the mall.

Quality: a population with planted tastes. Products fall into ``groups`` taste groups; every
member belongs to one group and redeems mostly (``IN_GROUP``) its products, the rest from the
whole catalogue, both under a Zipf popularity skew (a few products are redeemed far more than the
others); most members also bought in a few shop categories, mostly their group's. Each member's
last redemption is held out (never written); the real nightly job runs on the rest, and for a
sample of members the real ``recommended_for`` is asked for 10 products. The baseline recommends
the 10 most popular products the member has not redeemed. Reported: hit-rate@10 (the share of
members whose held-out product is among the 10) and coverage (the share of the catalogue
recommended to anyone in the sample).

Scale: members × products × redemptions generated in SQL (``generate_series`` with a fixed
``setseed``), then the nightly job is timed, with the peak memory of this process (its
``ru_maxrss`` growth: the job streams nothing through Python) and the temporary-file bytes
PostgreSQL wrote for it (``pg_stat_database.temp_bytes``: sorts and hashes past ``work_mem``).

Deterministic: the same arguments give the same population and the same figures (times aside).
"""

from __future__ import annotations

import random
import resource
import statistics
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from catalog.models import Product, Redemption
from catalog.recommendations import compute_neighbours, recommended_for
from points.models import Order, OrderLine
from rules.segments import Segment
from rules.tiers import default_tier_code

IN_GROUP = 0.8
ZIPF = 1.0
SHOP_CATEGORIES_PER_GROUP = 3
K = 10


@dataclass
class Quality:
    members: int
    products: int
    groups: int
    redemptions: int
    held_out: int
    sample: int
    hit_rate: dict[str, float] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)
    job_seconds: float = 0.0
    read_ms: float = 0.0

    @property
    def beats_baseline(self) -> bool:
        return self.hit_rate["recommender"] > self.hit_rate["popularity"]


@dataclass
class Scale:
    members: int
    products: int
    redemptions: int
    orders: int
    seconds: float
    counts: dict
    python_peak_kb: int
    temp_bytes: int
    temp_files: int
    work_mem: str
    backend_peak_kb: int | None
    read_ms: float


def _copy(table: str, columns: list[str], rows) -> None:
    """``COPY`` rows (tuples of Python values, already text where PostgreSQL needs it) into
    ``table``."""
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


MEMBER_COLUMNS = ["password", "is_superuser", "username", "first_name", "last_name", "email",
                  "is_staff", "is_active", "date_joined", "nickname", "tier", "segment"]
PRODUCT_COLUMNS = ["name", "description", "kind", "points_price", "cash_price", "stock", "sold",
                   "visible_tiers", "active", "sort_order", "created_at", "updated_at",
                   "usage_instructions"]
REDEMPTION_COLUMNS = ["key", "member_id", "product_id", "quantity", "points", "welcome_discount",
                      "cash", "status", "address", "tracking_number", "created_at",
                      "cancel_reason"]


def _tables() -> dict[str, str]:
    return {"member": get_user_model()._meta.db_table, "product": Product._meta.db_table,
            "redemption": Redemption._meta.db_table, "order": Order._meta.db_table,
            "line": OrderLine._meta.db_table}


def _weighted_pick(rng: random.Random, items: list[int], cumulative: list[float], taken: set) -> int:
    while True:
        pick = rng.choices(items, cum_weights=cumulative)[0]
        if pick not in taken:
            return pick


def evaluate_quality(*, members: int = 5000, products: int = 300, groups: int = 8,
                     sample: int = 2000, seed: int = 14) -> Quality:
    """Write the planted population to the current (empty, scratch) database, run the job and
    measure both recommenders (see the module docstring)."""
    rng = random.Random(seed)
    t = _tables()
    now = timezone.now()
    tier = default_tier_code()
    segments = list(Segment.values)
    start = now - timedelta(days=200)

    _copy(t["product"], PRODUCT_COLUMNS, (
        (f"Q{j:04d}", "", "physical", 100 + 50 * rng.randrange(40), "0.00", 1_000_000, 0, "{}",
         True, 0, now, now, "") for j in range(products)))
    product_ids = list(Product.objects.order_by("id").values_list("id", flat=True))
    group_of = {pid: j % groups for j, pid in enumerate(product_ids)}
    # Popularity independent of the taste groups: a random rank per product.
    ranks = list(range(products))
    rng.shuffle(ranks)
    weight = {pid: 1 / (ranks[j] + 1) ** ZIPF for j, pid in enumerate(product_ids)}

    def cumulative(ids):
        total, out = 0.0, []
        for pid in ids:
            total += weight[pid]
            out.append(total)
        return out

    everything = (product_ids, cumulative(product_ids))
    by_group = []
    for g in range(groups):
        ids = [pid for pid in product_ids if group_of[pid] == g]
        by_group.append((ids, cumulative(ids)))

    # Segments at random: an RFM segment says how a member buys, not what they like.
    _copy(t["member"], MEMBER_COLUMNS, (
        ("!", False, f"q{i:06d}", "", "", "", False, True, start, "", tier,
         segments[rng.randrange(len(segments))] if rng.random() < 0.9 else "")
        for i in range(members)))
    member_ids = list(get_user_model().objects.filter(username__startswith="q")
                      .order_by("id").values_list("id", flat=True))

    training: dict[int, set[int]] = {}
    held: dict[int, int] = {}
    redemptions, orders = [], []
    for i, mid in enumerate(member_ids):
        group = rng.randrange(groups)
        taken: list[int] = []
        for _ in range(rng.randint(3, 12)):
            ids, cum = by_group[group] if rng.random() < IN_GROUP else everything
            if len(taken) >= len(ids):
                ids, cum = everything
            taken.append(_weighted_pick(rng, ids, cum, set(taken)))
        *seen, last = taken
        training[mid], held[mid] = set(seen), last
        for k, pid in enumerate(seen):
            redemptions.append((f"q:{mid}:{k}", mid, pid, 1, 0, 0, "0.00", "completed", "", "",
                                start + timedelta(days=k, minutes=i % 1440), ""))
        for k in range(rng.choice((0, 1, 1, 2, 3))):
            wanted = group if rng.random() < IN_GROUP else rng.randrange(groups)
            code = f"g{wanted}-{rng.randrange(SHOP_CATEGORIES_PER_GROUP)}"
            orders.append((f"Q-{mid}-{k}", tier, "100.00", "0.00", now - timedelta(days=30 + k),
                           now, mid, code))
    _copy(t["redemption"], REDEMPTION_COLUMNS, redemptions)
    _copy(t["order"], ["external_id", "tier", "amount", "refunded_amount", "paid_at", "created_at",
                       "member_id"], (row[:7] for row in orders))
    order_ids = dict(Order.objects.values_list("external_id", "id"))
    _copy(t["line"], ["order_id", "sku", "categories", "amount", "quantity"], (
        (order_ids[row[0]], "sku", "{" + row[7] + "}", "100.00", 1) for row in orders))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {t['member']}, {t['product']}, {t['redemption']}, "
                       f"{t['order']}, {t['line']}")

    began = time.perf_counter()
    compute_neighbours()
    job_seconds = time.perf_counter() - began

    # The baseline: the most popular products (members who redeemed each, in training).
    popularity: dict[int, int] = dict.fromkeys(product_ids, 0)
    for seen in training.values():
        for pid in seen:
            popularity[pid] += 1
    by_popularity = sorted(product_ids, key=lambda pid: (-popularity[pid], pid))

    chosen = sorted(rng.sample(member_ids, min(sample, len(member_ids))))
    people = {m.pk: m for m in get_user_model().objects.filter(pk__in=chosen)}
    hits = {"recommender": 0, "popularity": 0}
    shown = {"recommender": set(), "popularity": set()}
    reads = []
    for mid in chosen:
        began = time.perf_counter()
        mine = [product.pk for product in recommended_for(people[mid], limit=K)]
        reads.append(time.perf_counter() - began)
        base = [pid for pid in by_popularity if pid not in training[mid]][:K]
        for name, recommended in (("recommender", mine), ("popularity", base)):
            hits[name] += held[mid] in recommended
            shown[name].update(recommended)
    return Quality(
        members=members, products=products, groups=groups,
        redemptions=len(redemptions) + len(held), held_out=len(held), sample=len(chosen),
        hit_rate={name: hits[name] / len(chosen) for name in hits},
        coverage={name: len(shown[name]) / products for name in shown},
        job_seconds=job_seconds, read_ms=statistics.mean(reads) * 1000,
    )


def quality_report(q: Quality) -> str:
    lines = [
        f"recommendations quality: {q.members:,} members x {q.products:,} products, {q.groups} "
        f"taste groups, {q.redemptions:,} redemptions ({q.held_out:,} held out: each member's "
        f"last); {q.sample:,} members asked; job {q.job_seconds:.2f} s, "
        f"recommended_for {q.read_ms:.1f} ms a call",
        f"  {'':<12} {'hit-rate@10':>12} {'coverage':>10}",
    ]
    for name in ("recommender", "popularity"):
        lines.append(f"  {name:<12} {q.hit_rate[name]:>12.3f} {q.coverage[name]:>9.1%}")
    ratio = (q.hit_rate["recommender"] / q.hit_rate["popularity"]
             if q.hit_rate["popularity"] else float("inf"))
    lines.append(f"  recommender vs popularity: {ratio:.2f}x the hit-rate"
                 + ("" if q.beats_baseline else "   MISSED (does not beat the baseline)"))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- scale

_SCALE_SQL = [
    "SELECT setseed(0.14) WHERE %(members)s > 0",
    """INSERT INTO {product} (name, description, kind, points_price, cash_price, stock, sold,
                              visible_tiers, active, sort_order, created_at, updated_at,
                              usage_instructions)
       SELECT 'S' || g, '', 'physical', 100 + (g %% 40) * 50, 0, 1000000, 0, '{{}}', true, 0,
              now(), now(), ''
       FROM generate_series(1, %(products)s) g""",
    """INSERT INTO {member} (password, is_superuser, username, first_name, last_name, email,
                             is_staff, is_active, date_joined, nickname, tier, segment)
       SELECT '!', false, 's' || g, '', '', '', false, true, now(), '', %(tier)s,
              (%(segments)s::text[])[1 + g %% 9]
       FROM generate_series(1, %(members)s) g""",
    # Redemptions: member by member (g % members); each member's taste group is their number
    # modulo 8 and 80% of their picks are its products, the rest from the whole catalogue, both
    # skewed towards the smaller product numbers (a power of a uniform draw); 5% cancelled.
    """INSERT INTO {redemption} (key, member_id, product_id, quantity, points, welcome_discount,
                                 cash, status, address, tracking_number, created_at, cancel_reason)
       SELECT 's:' || g, m.first + g %% %(members)s,
              p.first + CASE WHEN random() < 0.8
                  THEN least(%(products)s - 1, (g %% %(members)s) %% 8
                             + 8 * floor(power(random(), 2) * (%(products)s / 8))::int)
                  ELSE floor(power(random(), 3) * %(products)s)::int END,
              1, 0, 0, 0, CASE WHEN random() < 0.05 THEN 'cancelled' ELSE 'completed' END,
              '', '', now() - (g %% 365) * interval '1 day', ''
       FROM generate_series(0, %(redemptions)s - 1) g,
            (SELECT min(id) AS first FROM {member}) m,
            (SELECT min(id) AS first FROM {product}) p""",
    """INSERT INTO {order} (external_id, tier, amount, refunded_amount, paid_at, created_at,
                            member_id)
       SELECT 'S-' || g, %(tier)s, 100, 0, now() - (g %% 300) * interval '1 day', now(),
              m.first + (g * 7919) %% %(members)s
       FROM generate_series(1, %(orders)s) g, (SELECT min(id) AS first FROM {member}) m""",
    """INSERT INTO {line} (order_id, sku, categories, amount, quantity)
       SELECT o.id, 'sku', ARRAY['c' || (o.member_id %% 8) || '-' || floor(random() * 3)::int,
                                 'c' || floor(random() * 24)::int], 100, 1
       FROM {order} o""",
]


def _temp_stats(cursor) -> tuple[int, int]:
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute("SELECT temp_bytes, temp_files FROM pg_stat_database "
                   "WHERE datname = current_database()")
    return cursor.fetchone()


def _flush_stats(cursor) -> None:
    """Make this backend's counters visible in ``pg_stat_database`` (PostgreSQL 15 flushes them
    lazily)."""
    if connection.pg_version >= 150000:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    cursor.execute("SELECT 1")
    time.sleep(1.1)


def _status_kb(pid: int | str, field: str) -> int | None:
    """``VmHWM`` (peak resident memory) or ``VmRSS`` of a process on this machine, in KB; None
    where /proc cannot tell (another OS, a remote database server, no permission)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak(pid: int | str) -> bool:
    """Start ``VmHWM`` afresh (Linux: ``clear_refs`` 5), so it is the peak of what follows."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def evaluate_scale(*, members: int = 100_000, products: int = 1_000, redemptions: int = 1_000_000,
                   orders: int = 200_000) -> Scale:
    """Replace the database's members, products, redemptions and orders by a population of this
    size (see the module docstring) and time the nightly job on it."""
    t = _tables()
    params = {"members": members, "products": products, "redemptions": redemptions,
              "orders": orders, "tier": default_tier_code(),
              "segments": list(Segment.values) + [""]}
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {t['member']}, {t['product']} RESTART IDENTITY CASCADE")
        for statement in _SCALE_SQL:
            cursor.execute(statement.format(**t), params)
        cursor.execute(f"VACUUM ANALYZE {t['member']}")
        for table in ("product", "redemption", "order", "line"):
            cursor.execute(f"VACUUM ANALYZE {t[table]}")
        cursor.execute("SELECT current_setting('work_mem') || ', shared_buffers ' "
                       "|| current_setting('shared_buffers')")
        work_mem = cursor.fetchone()[0]
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
        _flush_stats(cursor)
        temp_before = _temp_stats(cursor)
    # The peak growth of this process during the job: from its resident size now to its peak
    # (reset first where Linux allows; else ru_maxrss, which only shows growth past the peak
    # of the quality part).
    exact = _reset_peak("self")
    rss_before = _status_kb("self", "VmRSS") if exact else None
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    backend_reset = _reset_peak(pid)
    began = time.perf_counter()
    counts = compute_neighbours()
    seconds = time.perf_counter() - began
    if exact and rss_before is not None:
        python_peak = (_status_kb("self", "VmHWM") or 0) - rss_before
    else:
        python_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before
    backend_peak = _status_kb(pid, "VmHWM") if backend_reset else None
    with connection.cursor() as cursor:
        _flush_stats(cursor)
        temp_after = _temp_stats(cursor)
    # A read on the big tables: recommended_for for 200 members.
    people = list(get_user_model().objects.order_by("id")[: members : max(1, members // 200)])
    reads = []
    for person in people:
        began_read = time.perf_counter()
        recommended_for(person)
        reads.append(time.perf_counter() - began_read)
    return Scale(members=members, products=products, redemptions=redemptions, orders=orders,
                 seconds=seconds, counts=counts, python_peak_kb=python_peak,
                 temp_bytes=temp_after[0] - temp_before[0], temp_files=temp_after[1] - temp_before[1],
                 work_mem=work_mem, backend_peak_kb=backend_peak,
                 read_ms=statistics.mean(reads) * 1000 if reads else 0.0)


def scale_report(s: Scale) -> str:
    backend = (f", the PostgreSQL backend's peak resident memory {s.backend_peak_kb / 1024:.0f} MB "
               "(the shared buffers it touched included)" if s.backend_peak_kb else "")
    return (
        f"recommendations job at scale: {s.members:,} members x {s.products:,} products x "
        f"{s.redemptions:,} redemptions (+ {s.orders:,} shop orders): {s.seconds:.1f} s "
        f"(goal: minutes); {s.counts['neighbours']:,} neighbours, "
        f"{s.counts['category_neighbours']:,} category neighbours, {s.counts['popular']:,} "
        f"popularity rows\n"
        f"  memory: this process +{s.python_peak_kb / 1024:.1f} MB peak; PostgreSQL temp files "
        f"{s.temp_bytes / 2**20:.1f} MB in {s.temp_files} files (work_mem {s.work_mem}){backend}; "
        f"recommended_for {s.read_ms:.1f} ms a call"
    )

