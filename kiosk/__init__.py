"""bibkiosk application: SIP2, library-system adapters, the embedded library
system, flows, door service, Kivy UI, journal, configuration and the
``bibkiosk`` command."""

__version__ = "0.1.0"
