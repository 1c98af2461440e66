"""The kiosk's Kivy touch UI: layouts in kiosk.kv, logic in kiosk.flows.

Import Kivy only from here down (the flows, the door and the tests of
everything else never load it)."""
