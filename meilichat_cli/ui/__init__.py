"""Terminal output (rich) and the REPL (prompt_toolkit): what people see and type.

No HTTP here: this layer receives events and text from the core and never imports httpx.
"""
