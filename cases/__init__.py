"""The case lifecycle: intake, routing, dispatch, deadlines, verification, rating, history."""
