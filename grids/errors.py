"""Errors of the grids package; each maps to an HTTP status through gridlink.errors."""

from __future__ import annotations

from gridlink.errors import InvalidInput, NotFound, Unavailable


class BadCoordinates(InvalidInput):
    """A longitude/latitude that is missing, not a number, NaN or out of range."""

    code = "bad_coordinates"


class OutsideDistrict(InvalidInput):
    """A valid point farther than the tolerance from every block of the district."""

    code = "outside_district"


class UnitNotFound(NotFound):
    code = "unit_not_found"


class GridNotLoaded(Unavailable):
    """No grid version is active yet (fresh database): nothing can be placed."""

    code = "grid_not_loaded"


class GridImportError(InvalidInput):
    """A grid file that cannot be imported; `problems` lists every one found."""

    code = "grid_invalid"

    def __init__(self, problems: list[dict[str, object]]) -> None:
        super().__init__(f"the grid file has {len(problems)} problem(s); nothing was imported",
                         problems=problems)
        self.problems = problems
