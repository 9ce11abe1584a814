# SQS: the command queue (API -> schedulers) and its dead-letter queue.
# Commands are at-least-once and idempotent; a command that fails
# queue_max_receive_count times lands in the DLQ for an operator to read.

resource "aws_sqs_queue" "commands_dlq" {
  name                      = "${local.name}-commands-dlq"
  message_retention_seconds = 1209600 # 14 days, the maximum: longer than the source queue's, as SQS requires
  sqs_managed_sse_enabled   = true

  tags = { Name = "${local.name}-commands-dlq" }
}

resource "aws_sqs_queue" "commands" {
  name = "${local.name}-commands"

  # The scheduler holds a message for this long at first and extends it with
  # ChangeMessageVisibility (queue.Queue.Extend) while a command is still being
  # handled, so a short default is enough and a crashed scheduler's command
  # comes back quickly.
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  message_retention_seconds  = var.queue_message_retention_seconds
  receive_wait_time_seconds  = 20 # long polling
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.commands_dlq.arn
    maxReceiveCount     = var.queue_max_receive_count
  })

  tags = { Name = "${local.name}-commands" }
}

# Only the command queue may use the DLQ. A separate resource, because
# naming the source queue on the DLQ itself would make a dependency cycle.
resource "aws_sqs_queue_redrive_allow_policy" "commands_dlq" {
  queue_url = aws_sqs_queue.commands_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.commands.arn]
  })
}
