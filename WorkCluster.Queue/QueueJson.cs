using System.Text.Json.Serialization;

namespace WorkCluster.Queue;

[JsonSerializable(typeof(JobRecord))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class QueueJson : JsonSerializerContext;
