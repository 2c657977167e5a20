using System.Text.Json.Serialization;

namespace WorkCluster.Queue;

[JsonSerializable(typeof(JobRecord))]
[JsonSerializable(typeof(Schedules.StoredSchedule))]
[JsonSerializable(typeof(MaintenanceRun))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class QueueJson : JsonSerializerContext;
