"""The instance format, as data: every table, every column, its type and meaning.

The loader and the validator read these specs; ``docs/instance-format.md`` is generated from
them (``python -m allocator.tools.docs --write``), and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Column",
    "Table",
    "TABLES",
    "FLAGS",
    "GRADES",
    "USES",
    "SOURCE_KINDS",
    "MEASURES",
    "COMMITMENT_KINDS",
    "MAX_QUANTITY",
    "MAX_COST",
    "MAX_DAYS",
]

# Quantities above this are rejected as absurd (no day's supply or demand of any item
# comes near a trillion units); costs likewise per unit.
MAX_QUANTITY = 1e12
MAX_COST = 1e9
# Lead and transit times above this many days are rejected (a year).
MAX_DAYS = 366

FLAGS = ("level_one_response", "port_of_entry", "border_port", "medium_risk", "export")
GRADES = ("general", "icu")
USES = ("general", "icu")
SOURCE_KINDS = ("enterprise", "reserve", "import", "donation")
MEASURES = ("units", "pallets", "trucks", "volume", "mass")
COMMITMENT_KINDS = ("contract", "designated")


@dataclass(frozen=True)
class Column:
    name: str
    # id | ref | text | quantity | cost | number | count | bool | choice | flags | lat | lon | date | days | fraction
    kind: str
    required: bool
    description: str
    default: object = None
    choices: tuple[str, ...] = ()
    ref: str | None = None  # table whose id this column refers to


@dataclass(frozen=True)
class Table:
    name: str  # file stem: products -> products.csv
    required: bool
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # columns that must be unique together
    description: str

    @property
    def file(self) -> str:
        return f"{self.name}.csv"

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "products",
            True,
            (
                Column("product", "id", True, "Product id."),
                Column("name", "text", False, "Display name.", default=""),
                Column("family", "text", False, "Demand family the product serves; default: the product id itself."),
                Column("grade", "choice", False, "`icu` (ICU-grade) or `general`.", default="general", choices=GRADES),
                Column("unit", "text", False, "Unit of count or measure, for display.", default=""),
                Column("countable", "bool", False, "Whole units only (`true`/`false`).", default=True),
                Column(
                    "durable",
                    "bool",
                    False,
                    "Equipment that stays in service (ventilators, ambulances): demand "
                    "is units in service each day, and units on hand stay on hand. Default: used up (`false`).",
                    default=False,
                ),
                Column(
                    "attrition",
                    "fraction",
                    False,
                    "Share of units on hand lost each day (from 0 up to, not including, 1).",
                    default=0.0,
                ),
                Column(
                    "lead_days",
                    "days",
                    False,
                    "Days from production to availability at the source (sterilisation, ...).",
                    default=0.0,
                ),
                Column(
                    "unit_volume",
                    "number",
                    False,
                    "Cubic metres one unit takes up (for `volume` capacities in capacity.csv).",
                ),
                Column(
                    "unit_mass", "number", False, "Kilograms one unit weighs (for `mass` capacities in capacity.csv)."
                ),
                Column(
                    "per_pallet", "number", False, "Units on one pallet (for `pallets` capacities in capacity.csv)."
                ),
                Column(
                    "per_truck",
                    "number",
                    False,
                    "Units in one full truck of this product alone (for `trucks` "
                    "capacities in capacity.csv; a mixed load fills each truck pro rata).",
                ),
                Column(
                    "min_lot",
                    "quantity",
                    False,
                    "Smallest shipment of the product on a route: a route "
                    "carries 0 or at least this many units (makes the model a MIP); empty: no minimum.",
                    default=0.0,
                ),
            ),
            ("product",),
            "What can be shipped.",
        ),
        Table(
            "sources",
            True,
            (
                Column("source", "id", True, "Source id."),
                Column("name", "text", True, "Display name."),
                Column("region", "ref", True, "Region where the source stands.", ref="regions"),
                Column(
                    "kind",
                    "choice",
                    False,
                    "enterprise, reserve, import or donation.",
                    default="enterprise",
                    choices=SOURCE_KINDS,
                ),
                Column("lat", "lat", False, "Latitude, decimal degrees; default: its region's."),
                Column("lon", "lon", False, "Longitude, decimal degrees; default: its region's."),
                Column(
                    "lead_days",
                    "days",
                    False,
                    "Days from production to availability, added to the product's.",
                    default=0.0,
                ),
                Column(
                    "max_destinations",
                    "count",
                    False,
                    "Most regions the source ships to in a day, all "
                    "products together (makes the model a MIP); empty: no limit.",
                ),
            ),
            ("source",),
            "Where supply is: makers, reserves, imports, donations.",
        ),
        Table(
            "supply",
            True,
            (
                Column("source", "ref", True, "Source id.", ref="sources"),
                Column("product", "ref", True, "Product id.", ref="products"),
                Column(
                    "quantity",
                    "quantity",
                    True,
                    "Units the source can ship today (made that day, in a multi-day instance).",
                ),
                Column("day", "date", False, "Day of production (`YYYY-MM-DD`); empty: every day.", default=""),
                Column(
                    "lead_days",
                    "days",
                    False,
                    "Days from production to availability for this row; empty: the product's plus the source's.",
                ),
            ),
            ("source", "product", "day"),
            "What each source can ship today, or makes each day.",
        ),
        Table(
            "regions",
            True,
            (
                Column("region", "id", True, "Region id."),
                Column("name", "text", True, "Display name."),
                Column("name_zh", "text", False, "Name in Chinese, for display.", default=""),
                Column("lat", "lat", False, "Latitude of the region's hub (capital), decimal degrees."),
                Column("lon", "lon", False, "Longitude of the region's hub (capital), decimal degrees."),
                Column("flags", "flags", False, "Priority flags separated by `;`.", default=""),
                Column("weight", "number", False, "Multiplier on the weight of the region's demand.", default=1.0),
                Column(
                    "parent",
                    "ref",
                    False,
                    "The region this one belongs to (e.g. the province of a county).",
                    default="",
                    ref="regions",
                ),
                Column("population", "quantity", False, "People living there, for display.", default=None),
            ),
            ("region",),
            "Where demand is.",
        ),
        Table(
            "demand",
            True,
            (
                Column("region", "ref", True, "Region id.", ref="regions"),
                Column("family", "text", True, "Product family demanded."),
                Column("use", "choice", False, "`icu` or `general`.", default="general", choices=USES),
                Column("quantity", "quantity", True, "Units needed today."),
                Column("weight", "number", False, "Weight of one unit of shortfall; default from the policy."),
                Column("day", "date", False, "Day of the demand (`YYYY-MM-DD`); empty: every day.", default=""),
            ),
            ("region", "family", "use", "day"),
            "What each region needs today, or on each day.",
        ),
        Table(
            "routes",
            False,
            (
                Column("source", "ref", True, "Source id.", ref="sources"),
                Column("region", "ref", True, "Region id.", ref="regions"),
                Column(
                    "product", "ref", False, "Product the row is for; empty: every product.", default="", ref="products"
                ),
                Column("cost", "cost", True, "Cost of shipping one unit."),
                Column("distance_km", "number", False, "Road or air distance, for display."),
                Column("transit_days", "days", False, "Whole days in transit (multi-day plans); empty: 0."),
                Column(
                    "capacity",
                    "quantity",
                    False,
                    "Most units of each product the route carries today; empty: no limit.",
                ),
                Column(
                    "corridor",
                    "text",
                    False,
                    "Name of the transport corridor the route runs on, for a "
                    "corridor's shared capacity in capacity.csv; empty: none.",
                    default="",
                ),
            ),
            ("source", "region", "product"),
            "Which source may ship to which region, at what cost. Without this file every source ships "
            "to every region at a cost from the great-circle distance.",
        ),
        Table(
            "stock",
            False,
            (
                Column(
                    "source",
                    "ref",
                    False,
                    "Source holding the stock (a reserve, a maker's warehouse).",
                    default="",
                    ref="sources",
                ),
                Column(
                    "region",
                    "ref",
                    False,
                    "Region holding the stock (delivered, not yet used).",
                    default="",
                    ref="regions",
                ),
                Column("product", "ref", True, "Product id.", ref="products"),
                Column("quantity", "quantity", True, "Units on hand, or arriving on `day`."),
                Column("day", "date", False, "Day the units arrive there; empty: on hand at the start.", default=""),
                Column(
                    "floor",
                    "quantity",
                    False,
                    "Units the holder should keep at the end of each day (a soft "
                    "target, weighted by `floor.weight`); empty: none.",
                    default=0.0,
                ),
            ),
            ("source", "region", "product", "day"),
            "Stock on hand or on its way, at sources and regions (multi-day plans). Each row names a source "
            "or a region, not both.",
        ),
        Table(
            "transfers",
            False,
            (
                Column("from_region", "ref", True, "Region sending stock on.", ref="regions"),
                Column("to_region", "ref", True, "Region receiving it.", ref="regions"),
                Column(
                    "product", "ref", False, "Product the row is for; empty: every product.", default="", ref="products"
                ),
                Column("cost", "cost", True, "Cost of moving one unit."),
                Column("transit_days", "days", False, "Whole days in transit; empty: 0."),
                Column("capacity", "quantity", False, "Most units of each product moved a day; empty: no limit."),
            ),
            ("from_region", "to_region", "product"),
            "Redistribution (multi-day plans): a region's stock may be sent on to another region.",
        ),
        Table(
            "capacity",
            False,
            (
                Column(
                    "source",
                    "ref",
                    False,
                    "Shipments from this source; empty: from every source.",
                    default="",
                    ref="sources",
                ),
                Column(
                    "region",
                    "ref",
                    False,
                    "Shipments to this region; empty: to every region.",
                    default="",
                    ref="regions",
                ),
                Column(
                    "corridor",
                    "text",
                    False,
                    "Shipments on routes of this corridor (routes.csv); empty: on any route.",
                    default="",
                ),
                Column(
                    "measure",
                    "choice",
                    True,
                    "What the capacity counts: `units`, `pallets` (products' "
                    "`per_pallet`), `trucks` (`per_truck`), `volume` (m3, `unit_volume`) or `mass` (kg, "
                    "`unit_mass`).",
                    choices=MEASURES,
                ),
                Column(
                    "capacity",
                    "quantity",
                    True,
                    "Most of that measure shipped today by all products together on the routes the row matches.",
                ),
            ),
            ("source", "region", "corridor", "measure"),
            "Transport capacity shared by every product on the routes a row matches (a source's loading "
            "docks, a corridor, a region's receiving capacity). Each row names a source, a region or a corridor.",
        ),
        Table(
            "commitments",
            False,
            (
                Column("source", "ref", True, "Source bound by the commitment.", ref="sources"),
                Column("region", "ref", True, "Region (or buyer) it is committed to.", ref="regions"),
                Column(
                    "product",
                    "ref",
                    False,
                    "Product committed; empty: any of the source's products.",
                    default="",
                    ref="products",
                ),
                Column(
                    "minimum",
                    "quantity",
                    False,
                    "Units the source must ship to the region today (a contract); empty: none.",
                    default=0.0,
                ),
                Column(
                    "kind",
                    "choice",
                    False,
                    "`contract` (at least `minimum`) or `designated` (the source is "
                    "assigned to its designated regions: it ships that product to them only, and at least "
                    "`minimum`).",
                    default="contract",
                    choices=COMMITMENT_KINDS,
                ),
            ),
            ("source", "region", "product"),
            "Hard commitments: contracts and designated pairings (a maker assigned to a province). When they "
            "cannot all hold, the plan names the smallest set of conflicting rows.",
        ),
        Table(
            "substitutes",
            False,
            (
                Column("product", "ref", True, "Product that may stand in.", ref="products"),
                Column("family", "text", True, "Demand family it may serve besides its own."),
                Column(
                    "use", "choice", False, "`general` or `icu` demand of that family.", default="general", choices=USES
                ),
                Column(
                    "preference",
                    "count",
                    False,
                    "Rank among the substitutes for that demand: 1 is the first "
                    "choice, 2 the next, ...; the family's own products always come first.",
                    default=1.0,
                ),
            ),
            ("product", "family", "use"),
            "Which product may serve which other family's demand, with a preference (goggles for face "
            "shields, ...); generalises the ICU rule.",
        ),
    )
}
