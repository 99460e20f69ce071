"""The contacts API: call lists, the contact log and booking contacts within caps and consent."""
