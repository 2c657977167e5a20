using System.ComponentModel.DataAnnotations;

namespace WorkCluster.Webhooks;

/// <summary>Webhook delivery, from the <c>Webhooks</c> configuration section.</summary>
public sealed class WebhookOptions
{
    public const string SectionName = "Webhooks";

    /// <summary>
    /// The key every delivery is signed with (HMAC-SHA256): <c>whsec_</c> followed by base64 (as Standard Webhooks
    /// writes it), or any other text, used as its UTF-8 bytes. Unset: no webhooks (a <c>callback_url</c> is refused).
    /// </summary>
    [MinLength(24)]
    public string? Secret { get; set; }

    /// <summary>Attempts per delivery, the first included.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 8;

    /// <summary>How long one attempt may take, connection included, before it counts as failed.</summary>
    [Range(100, 300_000)]
    public int TimeoutMs { get; set; } = 10_000;

    /// <summary>
    /// Whether callback URLs may point at loopback, link-local or private addresses. Unset: true in Development only.
    /// </summary>
    public bool? AllowPrivateNetworks { get; set; }

    /// <summary>The backoff before the first retry; it doubles per attempt (fully jittered) up to <see cref="RetryMaxDelay"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Deliveries one worker makes at once.</summary>
    [Range(1, 1000)]
    public int Concurrency { get; set; } = 16;

    /// <summary>How often an idle worker looks for due deliveries.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest callback URL accepted.</summary>
    public const int MaxUrlLength = 2048;

    public bool Enabled => !string.IsNullOrEmpty(Secret);

    /// <summary>The lease of one attempt: its time-out and a margin; past it, the delivery is taken again.</summary>
    public TimeSpan AttemptLease => TimeSpan.FromMilliseconds(TimeoutMs) + TimeSpan.FromSeconds(2);
}
