"""The instance format, as data: every table, every column, its type and meaning.

The loader and the validator read these specs; the README's "Instance format"
section documents the same columns, and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Column", "Table", "TABLES", "FLAGS", "GRADES", "USES", "SOURCE_KINDS", "MAX_QUANTITY", "MAX_COST"]

# Quantities above this are rejected as absurd (no day's supply or demand of any item
# comes near a trillion units); costs likewise per unit.
MAX_QUANTITY = 1e12
MAX_COST = 1e9

FLAGS = ("level_one_response", "port_of_entry", "border_port", "medium_risk")
GRADES = ("general", "icu")
USES = ("general", "icu")
SOURCE_KINDS = ("enterprise", "reserve", "import", "donation")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # id | ref | text | quantity | cost | number | bool | choice | flags | lat | lon
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
                Column("kind", "choice", False, "enterprise, reserve, import or donation.", default="enterprise",
                       choices=SOURCE_KINDS),
                Column("lat", "lat", False, "Latitude, decimal degrees; default: its region's."),
                Column("lon", "lon", False, "Longitude, decimal degrees; default: its region's."),
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
                Column("quantity", "quantity", True, "Units the source can ship today."),
            ),
            ("source", "product"),
            "What each source can ship today.",
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
                Column("parent", "ref", False, "The region this one belongs to (e.g. the province of a county).",
                       default="", ref="regions"),
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
            ),
            ("region", "family", "use"),
            "What each region needs today.",
        ),
        Table(
            "routes",
            False,
            (
                Column("source", "ref", True, "Source id.", ref="sources"),
                Column("region", "ref", True, "Region id.", ref="regions"),
                Column("product", "ref", False, "Product the row is for; empty: every product.", default="",
                       ref="products"),
                Column("cost", "cost", True, "Cost of shipping one unit."),
                Column("distance_km", "number", False, "Road or air distance, for display."),
                Column("transit_days", "number", False, "Days in transit, for display (used by multi-day plans)."),
                Column("capacity", "quantity", False,
                       "Most units of each product the route carries today; empty: no limit."),
            ),
            ("source", "region", "product"),
            "Which source may ship to which region, at what cost. Without this file every source ships "
            "to every region at a cost from the great-circle distance.",
        ),
    )
}
