"""Text handling with no I/O: the sanitizer for untrusted text, document templates, and
the JSON formatting every output uses.

Standard library only. Must not import any other meilichat package but `errors`.
"""
