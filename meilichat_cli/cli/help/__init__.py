"""Help topics (`meilichat help TOPIC`), help text helpers, and the reference rendered into
`docs/`.

Empty on purpose: `meilichat --help` loads only `help.root` and the command table, never typer
or rich. Its modules are part of the command line and import only the layers below it.
"""
