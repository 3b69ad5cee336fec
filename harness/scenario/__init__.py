"""Gameday scenarios: the file format (``model``), its loader with line-numbered errors
(``loader``), the fault actions a timeline can use (``actions``) and the runner (``runner``)."""
