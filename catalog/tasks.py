"""Scheduled jobs of the points mall. Each calls a service, is safe to run twice, and logs what it
did. (The beat schedule lives in a migration of the periodic tasks, written by the lead.)"""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="catalog.close_due_auctions")
def close_due_auctions():
    """Every minute: close the auctions whose end has passed (exactly once each)."""
    from catalog import services

    closed = services.close_due_auctions()
    logger.info("closed %s auctions", closed)
    return closed


@shared_task(name="catalog.release_unpaid_redemptions")
def release_unpaid_redemptions():
    """Every minute: release the points + cash redemptions whose payment is past its deadline
    (points back, stock back, redemption cancelled; exactly once each)."""
    from catalog.services import payments

    released = payments.release_unpaid()
    logger.info("released %s unpaid redemptions", released)
    return released


@shared_task(name="catalog.recommendations")
def recommendations():
    """Nightly (01:00 Asia/Shanghai): recompute similar products, the shop categories' products
    and what is popular per RFM segment (``catalog.recommendations.compute_neighbours``; replaces
    the tables, so running it twice changes nothing)."""
    from catalog.recommendations import compute_neighbours

    return compute_neighbours()


@shared_task(name="catalog.replenishment")
def replenishment():
    """Nightly (02:00 Asia/Shanghai): forecast each supplied product's demand and replace the
    still-suggested purchase orders (``catalog.replenishment.suggest``; running it twice gives the
    same suggestions, and orders staff accepted are never touched)."""
    from catalog.replenishment import suggest

    done = suggest()
    logger.info("replenishment: %s", done)
    return done


@shared_task(name="catalog.import_channels")
def import_channels():
    """Nightly (03:00 Asia/Shanghai): import the products of every active channel marked "import
    on schedule" (``catalog.services.channels.run_scheduled_imports``; a failing channel is
    recorded on it and the others still run; running it twice imports nothing new)."""
    from catalog.services import channels

    counts = channels.run_scheduled_imports()
    logger.info("channel imports: %s", counts)
    return counts


@shared_task(name="catalog.sync_channel_stock")
def sync_channel_stock():
    """Every 15 minutes: sync the stock of the products marked "stock from channel" of every
    active channel marked "sync stock on schedule" (``run_scheduled_syncs``; one failing channel
    does not stop the others; running it twice changes nothing more)."""
    from catalog.services import channels

    counts = channels.run_scheduled_syncs()
    logger.info("channel stock syncs: %s", counts)
    return counts
