"""mall's writes: members (sign-up, the shop's upsert, profile and phone) and the exactly-once
store of the shop's events. Views, API views and hooks parse, call these, and render."""
