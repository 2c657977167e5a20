using System.Net;
using System.Net.Sockets;

namespace WorkCluster.Webhooks;

/// <summary>
/// Which callback URLs a webhook may go to. Checked twice: at submission (the URL's form, and an address written in it),
/// and at every connection (each address its name resolves to then, so that DNS cannot point an accepted name at an
/// internal service later).
/// </summary>
public static class CallbackUrls
{
    /// <summary>Why <paramref name="text"/> cannot be a callback URL, or null if it can.</summary>
    public static string? Check(string text, bool allowPrivateNetworks)
    {
        if (text.Length > WebhookOptions.MaxUrlLength)
        {
            return $"It is longer than {WebhookOptions.MaxUrlLength} characters.";
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return "It must be an absolute http or https URL.";
        }
        if (uri.UserInfo.Length > 0)
        {
            return "It must not carry a user name or password.";
        }
        if (uri.Fragment.Length > 0)
        {
            return "It must not have a fragment (#...).";
        }
        if (!allowPrivateNetworks)
        {
            if (uri.IsLoopback || uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
                || uri.Host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
            {
                return "It points at this machine (loopback); private networks are not allowed (Webhooks:AllowPrivateNetworks).";
            }
            if (IPAddress.TryParse(uri.IdnHost, out var address) && !IsPublic(address))
            {
                return $"Its address {address} is loopback, link-local or private; private networks are not allowed " +
                    "(Webhooks:AllowPrivateNetworks).";
            }
        }
        return null;
    }

    /// <summary>
    /// True for an address on the public internet; false for loopback, link-local, private (RFC 1918, unique local),
    /// carrier-grade NAT, unspecified, multicast, broadcast, documentation and other reserved ranges.
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)
            || address.Equals(IPAddress.Broadcast))
        {
            return false;
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] == 0 || b[0] == 10 || b[0] == 127
                || (b[0] == 100 && b[1] >= 64 && b[1] <= 127) // carrier-grade NAT
                || (b[0] == 169 && b[1] == 254) // link-local (cloud metadata)
                || (b[0] == 172 && b[1] >= 16 && b[1] <= 31)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2)) // IETF protocol assignments, TEST-NET-1
                || (b[0] == 192 && b[1] == 88 && b[2] == 99) // 6to4 relay anycast
                || (b[0] == 198 && (b[1] == 18 || b[1] == 19)) // benchmarking
                || (b[0] == 198 && b[1] == 51 && b[2] == 100) || (b[0] == 203 && b[1] == 0 && b[2] == 113)
                || b[0] >= 224); // multicast, reserved
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var b = address.GetAddressBytes();
            return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || address.IsIPv6UniqueLocal
                || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) // documentation
                || (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) // NAT64, may reach IPv4 internals
                || (b[0] == 0x20 && b[1] == 0x02) // 6to4: an IPv4 address inside
                || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) // Teredo: an IPv4 address inside
                || b[0] == 0x00); // other reserved (::/8)
        }
        return false;
    }
}
