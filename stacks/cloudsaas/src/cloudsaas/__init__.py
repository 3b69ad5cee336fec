"""Cloud-native SaaS stack (seed 004): users, subscriptions, billing, documents."""
