"""Sources: each turns an input into a stream of :class:`Paper` or :class:`Reject`."""
