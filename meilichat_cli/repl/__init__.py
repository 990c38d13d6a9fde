"""The interactive chat (`meilichat chat`): its state, slash commands, transcript, the
prompt_toolkit prompt and the host loop that ties them to the renderer.

Must not import typer or `cli`.
"""
