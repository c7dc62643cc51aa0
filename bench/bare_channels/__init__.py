"""The bare Channels floor of bench/push.py: a consumer that only relays `group_send`, never in the production URLs."""
