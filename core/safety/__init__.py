"""Safety: the policy, the gate and approvals, secrets."""
