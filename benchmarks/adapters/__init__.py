"""One adapter per system under test (see :class:`.base.Adapter`)."""
