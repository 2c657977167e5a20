using System.Text;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Api;

/// <summary>Recurring schedules through the API, run by every replica of the real app.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ScheduleApiTests(ClusterAppFixture app)
{
    [Fact]
    public async Task A_schedule_is_listed_replaced_with_its_history_kept_and_deleted()
    {
        var name = $"nightly-{Guid.NewGuid():N}"[..16];
        var path = $"/api/v1/schedules/{name}";
        using (var created = await app.Gateway.PutAsync(path, Json("""{"cron":"0 3 * * *","time_zone":"Europe/Paris","type":"echo","data":1}""")))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        using (var replaced = await app.Gateway.PutAsync(path, Json("""{"cron":"30 3 * * *","type":"sleep","data":{"sleep_ms":1},"priority":8}""")))
        {
            var body = JsonDocument.Parse(await replaced.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
            Assert.Equal(2, body.GetProperty("revision").GetInt64());
            Assert.Equal("UTC", body.GetProperty("time_zone").GetString());
            Assert.Equal(8, body.GetProperty("priority").GetInt32());
            var next = body.GetProperty("next_occurrences")[0].GetDateTimeOffset();
            Assert.Equal((3, 30, 0), (next.Hour, next.Minute, next.Second));
        }

        var list = JsonDocument.Parse(await app.Gateway.GetStringAsync("/api/v1/schedules")).RootElement;
        Assert.Contains(name, list.GetProperty("items").EnumerateArray().Select(s => s.GetProperty("name").GetString()));

        using (var deleted = await app.Gateway.DeleteAsync(path))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        using var gone = await app.Gateway.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }


    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
