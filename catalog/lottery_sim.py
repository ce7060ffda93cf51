"""A simulation of a lottery's draws (the admin shows it on the lottery's page): pure, over the
prizes' weights, stock and values, with no clock and no writes.

Each simulated draw picks as ``catalog.services.draw`` does (by weight among prizes still in
stock; stock None is unlimited) and takes a unit of the prize's simulated stock, so a small top
prize runs out as it would. The cost of a prize to the programme is its value in points: the
points of a points prize, the points price of a product or coupon prize, 0 for nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

DEFAULT_DRAWS = 100_000


@dataclass(frozen=True)
class SimPrize:
    name: str
    weight: int
    stock: int | None  # None: unlimited
    value_points: int  # what one unit costs the programme, in points


@dataclass
class Simulation:
    draws: int
    wins: dict[str, int] = field(default_factory=dict)
    empty: int = 0  # draws that found no prize left (refused as no_prize_left)
    prize_points: int = 0

    def cost_per_draw(self) -> float:
        """Average prize value per draw, in points (refused draws count as draws)."""
        return self.prize_points / self.draws if self.draws else 0.0

    def cost_per_draw_yuan(self, points_per_yuan: int) -> Decimal:
        return (Decimal(self.prize_points) / self.draws / points_per_yuan).quantize(
            Decimal("0.0001")) if self.draws else Decimal(0)


def simulate(prizes: list[SimPrize], draws: int = DEFAULT_DRAWS, *,
             rng: random.Random | None = None) -> Simulation:
    """``draws`` draws over ``prizes``; a seeded ``rng`` makes it repeatable."""
    rng = rng or random.Random()
    stock = [p.stock for p in prizes]
    result = Simulation(draws=draws, wins={p.name: 0 for p in prizes})
    in_stock = [i for i, s in enumerate(stock) if s != 0]
    weights = [prizes[i].weight for i in in_stock]
    total = sum(weights)
    for _ in range(draws):
        if total <= 0:
            result.empty += 1
            continue
        point = rng.randrange(total)
        position = 0
        while point >= weights[position]:
            point -= weights[position]
            position += 1
        index = in_stock[position]
        prize = prizes[index]
        result.wins[prize.name] += 1
        result.prize_points += prize.value_points
        if stock[index] is not None:
            stock[index] -= 1
            if stock[index] == 0:
                total -= weights[position]
                del in_stock[position], weights[position]
    return result
