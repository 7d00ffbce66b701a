"""Mirror the store files into the database: stores, products and one inventory row per store x GTIN."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smartstore.gateway.db.models import Inventory, Product, Store
from smartstore.gateway.db.util import begin_write, utc_now
from smartstore.gateway.inventory import domain
from smartstore.gateway.inventory.store import (
    atp_figures,
    channel_figures_of,
    new_inventory_row,
    refresh_channels,
)
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)


def sync_stores(sessions: sessionmaker[Session], stores: dict[str, StoreConfig]) -> None:
    """Upsert stores, products and inventory rows; live figures of existing rows are kept.

    Only what the store file owns is rewritten: names, SKUs, RFID tagging and safety stock (which
    moves available-to-promise), and the online holdback (which moves online ATP); a figure that
    moves records its `inventory.channel_atp_changed` event. Products dropped from a catalog keep
    their rows (history).
    """
    now = utc_now()
    with sessions() as session:
        begin_write(session)
        for store_id, config in stores.items():
            _sync_store(session, store_id, config)
            rows = {
                row.gtin: row
                for row in session.scalars(
                    select(Inventory).where(Inventory.store_id == store_id).with_for_update()
                )
            }
            added = 0
            for product in config.catalog:
                row = rows.get(product.gtin)
                if row is None:
                    session.add(new_inventory_row(config, product.gtin, now))
                    added += 1
                    continue
                previous = atp_figures(row)
                if row.safety_stock != product.safety_stock:
                    row.safety_stock = product.safety_stock
                    row.available_to_promise = domain.available_to_promise(
                        row.on_hand, row.reserved, row.safety_stock
                    )
                if previous[1] is None and row.available_to_promise == previous[0]:
                    # A row from before the column: fill it in. Readers computed the same figure
                    # from the row, so nothing they saw changes and no event is due.
                    row.online_available_to_promise = channel_figures_of(row, config).online
                else:
                    refresh_channels(session, row, config, previous, now)
            logger.info("store %s: %d products, %d new inventory rows", store_id, len(config.catalog), added)
        session.commit()


def _sync_store(session: Session, store_id: str, config: StoreConfig) -> None:
    store = session.get(Store, store_id)
    if store is None:
        session.add(Store(id=store_id, name=config.store.name, timezone=config.store.timezone))
        # Products and inventory rows reference the store.
        session.flush()
    else:
        store.name = config.store.name
        store.timezone = config.store.timezone
    products = {p.gtin: p for p in session.scalars(select(Product).where(Product.store_id == store_id))}
    for item in config.catalog:
        product = products.get(item.gtin)
        if product is None:
            session.add(
                Product(
                    store_id=store_id,
                    gtin=item.gtin,
                    name=item.name,
                    sku=item.sku,
                    rfid_tagged=item.rfid_tagged,
                )
            )
        else:
            product.name = item.name
            product.sku = item.sku
            product.rfid_tagged = item.rfid_tagged
    session.flush()
