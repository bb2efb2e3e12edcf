"""An emulator of the Microsoft identity platform and the Graph v1.0 endpoints openrooms uses."""
