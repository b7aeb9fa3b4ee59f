"""Pretext tasks (METHOD.md §2): the transformations and the questions that ask about them."""
