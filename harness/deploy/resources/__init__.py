"""One module per CloudFormation resource type; :func:`handler_for` finds it (imported lazily)."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MODULES", "handler_for", "supported_types"]

MODULES: dict[str, str] = {
    "AWS::AppConfig::Application": "appconfig",
    "AWS::AppConfig::ConfigurationProfile": "appconfig",
    "AWS::AppConfig::Deployment": "appconfig",
    "AWS::AppConfig::DeploymentStrategy": "appconfig",
    "AWS::AppConfig::Environment": "appconfig",
    "AWS::AppConfig::HostedConfigurationVersion": "appconfig",
    "AWS::DynamoDB::Table": "dynamodb_table",
    "AWS::SQS::Queue": "sqs_queue",
    "AWS::SQS::QueuePolicy": "queue_policy",
    "AWS::SNS::Topic": "sns_topic",
    "AWS::SNS::Subscription": "sns_subscription",
    "AWS::SNS::TopicPolicy": "queue_policy",
    "AWS::Events::EventBus": "events_bus",
    "AWS::Events::Rule": "events_rule",
    "AWS::Scheduler::Schedule": "scheduler_schedule",
    "AWS::S3::Bucket": "s3_bucket",
    "AWS::S3::BucketPolicy": "queue_policy",
    "AWS::SecretsManager::Secret": "secret",
    "AWS::SSM::Parameter": "ssm_parameter",
    "AWS::Cognito::UserPool": "cognito_user_pool",
    "AWS::Cognito::UserPoolClient": "cognito_user_pool_client",
    "AWS::Cognito::UserPoolDomain": "cognito_user_pool_domain",
    "AWS::Cognito::UserPoolResourceServer": "cognito_resource_server",
    "AWS::Cognito::UserPoolGroup": "cognito_user_pool_group",
    "AWS::Cognito::UserPoolIdentityProvider": "cognito_identity_provider",
    "AWS::IAM::Role": "iam_role",
    "AWS::IAM::Policy": "iam_policy",
    "AWS::IAM::ManagedPolicy": "iam_policy",
    "AWS::Logs::LogGroup": "log_group",
    "AWS::StepFunctions::StateMachine": "stepfunctions_state_machine",
    "AWS::CloudWatch::Alarm": "cloudwatch_alarm",
    "AWS::CloudWatch::CompositeAlarm": "cloudwatch_composite_alarm",
    "AWS::Lambda::Function": "lambda_function",
    "AWS::Lambda::LayerVersion": "lambda_layer",
    "AWS::Lambda::Permission": "lambda_misc",
    "AWS::Lambda::Version": "lambda_misc",
    "AWS::Lambda::Alias": "lambda_misc",
    "AWS::Lambda::EventInvokeConfig": "lambda_misc",
    "AWS::Lambda::EventSourceMapping": "lambda_event_source",
    "AWS::Lambda::Url": "lambda_url",
    "AWS::ApiGatewayV2::Api": "apigw_api",
    "AWS::ApiGatewayV2::Stage": "apigw_parts",
    "AWS::ApiGatewayV2::Route": "apigw_parts",
    "AWS::ApiGatewayV2::Integration": "apigw_parts",
    "AWS::ApiGatewayV2::Authorizer": "apigw_parts",
    "AWS::ApiGatewayV2::Deployment": "apigw_parts",
    "AWS::ApiGateway::RestApi": "apigw_api",
    "AWS::ApiGateway::Stage": "apigw_parts",
    "AWS::ApiGateway::Deployment": "apigw_parts",
    "AWS::ApiGateway::Resource": "apigw_parts",
    "AWS::ApiGateway::Method": "apigw_parts",
    "AWS::ApiGateway::Authorizer": "apigw_parts",
    "AWS::ApiGateway::GatewayResponse": "apigw_parts",
    "AWS::ApiGateway::Account": "apigw_parts",
    "AWS::ApiGateway::UsagePlan": "apigw_usage",
    "AWS::ApiGateway::ApiKey": "apigw_usage",
    "AWS::ApiGateway::UsagePlanKey": "apigw_usage",
    "AWS::Kinesis::Stream": "kinesis_stream",
    "AWS::CloudFormation::Stack": "cloudformation_stack",
    "AWS::CodeDeploy::Application": "codedeploy",
    "AWS::CodeDeploy::DeploymentGroup": "codedeploy",
    "AWS::ResourceGroups::Group": "no_effect",
    "AWS::ApplicationInsights::Application": "no_effect",
    "AWS::Scheduler::ScheduleGroup": "no_effect",
}


def supported_types() -> list[str]:
    return sorted(MODULES)


def handler_for(type_: str) -> ModuleType | None:
    name = MODULES.get(type_)
    if name is None:
        return None
    return importlib.import_module(f"{__name__}.{name}")
