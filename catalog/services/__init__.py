"""Every write of the points mall: redemptions and their life cycle (``redemption``), the payment
of a points + cash redemption (``payments``), saved addresses (``addresses``), stock, coupon-code
pools and product saves (``stock``), lottery draws (``lottery``), purchase orders and their
receipts (``purchasing``, imported as ``from catalog.services import purchasing``), the goods
channels' import and stock sync (``channels``). Pages, the API, the admin and tasks call these, as
``from catalog import services; services.redeem(...)``; nothing else writes catalog rows.

Locks. Every function here takes its row locks in this one order (the project's lock order, in
``points.services.lock_objects``), and only the ones it needs:

    member row (SELECT ... FOR NO KEY UPDATE, ``points.services.lock_objects.lock_member``)
      -> redemption row -> its payment row
        -> lottery prize row (``draw``: the conditional stock UPDATE)
        -> product row (the conditional stock UPDATE, or SELECT ... FOR NO KEY UPDATE)
          -> coupon-code rows (FOR UPDATE SKIP LOCKED)
            -> points account (inside ``points.services.spend`` / ``reverse``)

so two of them never wait on each other in a cycle. Purchasing locks purchase order -> its lines by
id -> product rows by id (the receipt's stock UPDATE); nothing above locks a purchase row, so a
receipt and a redemption meet only on the product row. The channel import and stock sync
(``channels``) lock a goods channel's row, then its products in id order, and nothing else (no
member, redemption or account): they fit this order too. The member lock serializes one member's
redemptions (the per-member limit and the balance pre-check are read under it, and two calls with
the same key meet there); ``FOR NO KEY UPDATE`` leaves foreign-key inserts that point at the
member (``KEY SHARE``) free to proceed. Nothing calls out to the network while a lock is held: the
cache is invalidated after commit (``transaction.on_commit``).

Stock is a counter changed only by conditional UPDATEs (``... WHERE stock >= q``), never by
read-modify-save, and every change writes a ``StockMovement``. Product saves never write ``stock``
or ``sold`` (a form holding an old value would undo redemptions made meanwhile): stock moves through
``adjust_stock``, ``import_coupon_codes``, ``redeem``, ``cancel`` and ``purchasing.receive`` only.

Coupon pools. Stock is authoritative for selling (it is what the conditional UPDATE guards); the
pool of free codes is what fulfils a sale. The services keep ``free codes >= stock`` for every
coupon product: an import adds as much stock as codes, stock can be raised by hand only up to the
free codes, a sale takes as many codes as units, and codes never return to the pool. Should the
two disagree anyway (rows changed by hand), a redemption that finds too few codes is refused with
``CodesExhausted`` and nothing is written.

Fulfilment. Coupon and privilege redemptions are fulfilled at once: a coupon gets its code(s) in
the same transaction; a privilege (free shipping, member-day discount) takes effect when redeemed,
with nothing to ship. So only physical goods wait in ``created`` for ``fulfil`` (a tracking
number), and only they can be cancelled (cancel is allowed before fulfilment only): a code, once
shown to a member, is never taken back or given to someone else.

Idempotency. ``redeem`` is keyed: the same key returns the first redemption, with other arguments
it raises ``points.errors.IdempotencyConflict``. A refused redemption writes nothing (not even the
ledger's refusal record), so a retry under the same key may succeed once the cause is gone.
``fulfil``, ``complete`` and ``cancel`` return the redemption unchanged when it is already in the
asked-for state and refuse (``InvalidTransition``) otherwise.
"""

from catalog.services._helpers import (
    KEY_PREFIX,
    MAX_KEY,
    MAX_POINTS,
    MAX_QUANTITY,
    MAX_STOCK,
    MAX_STOCK_DELTA,
)
from catalog.services.addresses import add_address, remove_address, set_default, update_address
from catalog.services.auctions import close_due_auctions, place_bid
from catalog.services.channels import import_channel, sync_channel_stock
from catalog.services.images import add_image, remove_image, set_cover
from catalog.services.lottery import draw, grant_streak_draws
from catalog.services.payments import confirm_payment, release_unpaid
from catalog.services.redemption import cancel, complete, fulfil, redeem
from catalog.services.stock import (
    adjust_stock,
    import_coupon_codes,
    mark_code_used,
    restock_prize,
    save_product,
)

__all__ = [
    "KEY_PREFIX",
    "MAX_KEY",
    "MAX_POINTS",
    "MAX_QUANTITY",
    "MAX_STOCK",
    "MAX_STOCK_DELTA",
    "add_address",
    "add_image",
    "adjust_stock",
    "cancel",
    "close_due_auctions",
    "complete",
    "confirm_payment",
    "draw",
    "fulfil",
    "grant_streak_draws",
    "import_channel",
    "import_coupon_codes",
    "mark_code_used",
    "place_bid",
    "redeem",
    "release_unpaid",
    "remove_address",
    "remove_image",
    "restock_prize",
    "save_product",
    "set_cover",
    "set_default",
    "sync_channel_stock",
    "update_address",
]
