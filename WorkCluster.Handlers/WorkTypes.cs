using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace WorkCluster.Handlers;

/// <summary>A registered work type: its name and the handler class that does it.</summary>
public sealed record WorkTypeRegistration(string Name, Type HandlerType);

/// <summary>Settings shared by every work type, from the <c>Work</c> configuration section.</summary>
public sealed class WorkTypeOptions
{
    /// <summary>
    /// The type of work submitted without a <c>type</c>: by default <c>sleep</c> where the demonstration types are, none
    /// elsewhere (a submission must then name its type).
    /// </summary>
    public string? DefaultType { get; set; }

    /// <summary>
    /// Whether the demonstration types (<c>sleep</c>, <c>flaky</c>, <c>noop</c>) are registered: by default in Development
    /// only, so that production runs only real work.
    /// </summary>
    public bool? DemoTypes { get; set; }

    /// <summary>How long a handler may run before the attempt counts as failed.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00.001", "7.00:00:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Per-type overrides of <see cref="Timeout"/> (<c>Work:Timeouts:sha256=00:00:10</c>).</summary>
    public Dictionary<string, TimeSpan> Timeouts { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The timeout of work type <paramref name="type"/>.</summary>
    public TimeSpan TimeoutFor(string type) => Timeouts.TryGetValue(type, out var timeout) ? timeout : Timeout;
}

/// <summary>The registry of work types: which names exist and which handler runs each.</summary>
public sealed class WorkTypes
{
    private readonly IServiceProvider _services;
    private readonly HashSet<string> _names;

    public WorkTypes(IServiceProvider services, IEnumerable<WorkTypeRegistration> registrations, IOptions<WorkTypeOptions> options)
    {
        _services = services;
        Names = registrations.Select(r => r.Name).Order(StringComparer.Ordinal).ToArray();
        _names = new HashSet<string>(Names, StringComparer.Ordinal);
        DefaultType = options.Value.DefaultType;
        if (DefaultType is not null && !_names.Contains(DefaultType))
        {
            throw new OptionsValidationException(nameof(WorkTypeOptions.DefaultType), typeof(WorkTypeOptions),
                [$"Work:DefaultType '{DefaultType}' is not a registered work type ({string.Join(", ", Names)})."]);
        }
    }

    /// <summary>Every registered type name, sorted.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The type of work submitted without a <c>type</c>, or null if a submission must name one.</summary>
    public string? DefaultType { get; }

    public bool Contains(string name) => _names.Contains(name);

    /// <summary>Why <paramref name="data"/> cannot be work of type <paramref name="name"/> (its handler says), or null.</summary>
    public string? Validate(string name, JsonElement data) =>
        GetHandler(name) is IValidatesWorkData validates ? validates.Validate(name, data) : null;

    /// <summary>The handler for <paramref name="name"/>, or null if no such type is registered.</summary>
    public IWorkHandler? GetHandler(string name) =>
        _names.Contains(name) ? _services.GetRequiredKeyedService<IWorkHandler>(name) : null;
}
