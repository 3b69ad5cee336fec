"""CodexFlow (seed 003): project and task services, event consumers, on one DynamoDB table."""
