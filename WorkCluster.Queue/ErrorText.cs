using System.Text;

namespace WorkCluster.Queue;

/// <summary>
/// What an attempt's error may be wherever it goes (the job's <c>last_error</c>, logs, span status): at most
/// <see cref="MaxBytes"/> bytes of UTF-8 on one line. A handler's exception message can be anything: megabytes long,
/// multi-line (a forged log line), or hold control characters and lone surrogates that have no UTF-8 form.
/// </summary>
public static class ErrorText
{
    public const int MaxBytes = 1024;
    private const char Ellipsis = '…';

    /// <summary><paramref name="error"/> on one line (control characters become spaces), cut to <see cref="MaxBytes"/> UTF-8 bytes.</summary>
    public static string Bound(string? error)
    {
        if (string.IsNullOrEmpty(error))
        {
            return "";
        }
        var text = new StringBuilder(Math.Min(error.Length, MaxBytes));
        var bytes = 0;
        var room = MaxBytes - Encoding.UTF8.GetByteCount([Ellipsis]);
        for (var i = 0; i < error.Length; i++)
        {
            var pair = char.IsHighSurrogate(error[i]) && i + 1 < error.Length && char.IsLowSurrogate(error[i + 1]);
            var size = pair ? 4 : error[i] < 0x80 ? 1 : error[i] < 0x800 ? 2 : 3;
            if (bytes + size > room)
            {
                // Only cut if the rest does not fit after all.
                return Encoding.UTF8.GetByteCount(error.AsSpan(i)) + bytes <= MaxBytes && !HasUnsafe(error.AsSpan(i))
                    ? text.Append(error.AsSpan(i)).ToString()
                    : text.Append(Ellipsis).ToString();
            }
            if (pair)
            {
                text.Append(error, i++, 2);
            }
            else
            {
                text.Append(char.IsSurrogate(error[i]) ? '\uFFFD' : char.IsControl(error[i]) ? ' ' : error[i]);
            }
            bytes += size;
        }
        return text.ToString();
    }

    private static bool HasUnsafe(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (char.IsControl(c) || char.IsSurrogate(c))
            {
                return true;
            }
        }
        return false;
    }
}
