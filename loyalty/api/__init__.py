"""The loyalty API: balances, the ledger, tiers, rewards, redemptions and their cancellation."""
