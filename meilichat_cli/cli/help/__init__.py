"""Help topics (`meilichat help TOPIC`), help text helpers, and the reference rendered into
`docs/`.
"""
