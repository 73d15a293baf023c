using System.Globalization;

namespace Tolapai.Xen.Xenbus;

/// <summary>Where Xen keeps a split device in XenStore, and the keys both ends use.</summary>
public static class XenbusPaths
{
    /// <summary>This end's state, a decimal <see cref="XenbusState"/>.</summary>
    public const string StateKey = "state";
    /// <summary>In the frontend's directory: the backend's directory.</summary>
    public const string BackendKey = "backend";
    /// <summary>In the frontend's directory: the backend's domid.</summary>
    public const string BackendIdKey = "backend-id";
    /// <summary>In the backend's directory: the frontend's directory.</summary>
    public const string FrontendKey = "frontend";
    /// <summary>In the backend's directory: the frontend's domid.</summary>
    public const string FrontendIdKey = "frontend-id";

    /// <summary>The frontend's directory: <c>/local/domain/&lt;domU&gt;/device/&lt;type&gt;/&lt;devid&gt;</c>.</summary>
    public static string Frontend(uint frontendDomid, string type, uint devid) =>
        string.Create(CultureInfo.InvariantCulture, $"/local/domain/{frontendDomid}/device/{CheckType(type)}/{devid}");

    /// <summary>The backend's directory: <c>/local/domain/&lt;backend&gt;/backend/&lt;type&gt;/&lt;domU&gt;/&lt;devid&gt;</c>.</summary>
    public static string Backend(uint frontendDomid, string type, uint devid, uint backendDomid = 0) =>
        string.Create(CultureInfo.InvariantCulture, $"/local/domain/{backendDomid}/backend/{CheckType(type)}/{frontendDomid}/{devid}");

    /// <summary>A key of a device directory.</summary>
    public static string Key(string directory, string key) => directory + "/" + key;

    /// <summary>A state as written to the <c>state</c> key (decimal, as Linux's <c>xenbus_switch_state</c> does).</summary>
    public static string Format(XenbusState state) => ((int)state).ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// A <c>state</c> key read strictly: one of Xen's numbers in plain decimal, nothing else
    /// (no sign, spaces, leading zeros or trailing bytes). A missing key is
    /// <see cref="XenbusPeerCondition.Missing"/>; anything else is <see cref="XenbusPeerCondition.Malformed"/>.
    /// </summary>
    public static XenbusPeerState Parse(ReadOnlySpan<byte> value) =>
        value.Length == 1 && value[0] is >= (byte)'0' and <= (byte)'8'
            ? XenbusPeerState.Present((XenbusState)(value[0] - '0'))
            : XenbusPeerState.Malformed;

    private static string CheckType(string type)
    {
        ArgumentException.ThrowIfNullOrEmpty(type);
        foreach (char c in type)
            if (!(c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '-' or '_'))
                throw new ArgumentException($"device type '{type}' is not a XenStore path element", nameof(type));
        return type;
    }
}
