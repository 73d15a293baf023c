using Tolapai.Ixp.Protocol;

namespace Tolapai.Ixp.Backend;

public sealed partial class IxpBackendDevice
{
    private const int SlotFree = 0, SlotBusy = 1, SlotReady = 2;

    private SessionSlot[] _sessions = [];
    private int _sessionCount;

    private sealed class SessionSlot
    {
        public int State;
        public int InFlight;
        public object? DriverSession;
        public IxpAlgorithm Algorithm;
    }

    /// <summary>Sessions this guest holds.</summary>
    public int Sessions => Volatile.Read(ref _sessionCount);

    private void SetUpSessions()
    {
        _sessions = new SessionSlot[_backend.Options.MaxSessions];
        for (int i = 0; i < _sessions.Length; i++)
        {
            _sessions[i] = new SessionSlot();
        }
    }

    internal IxpStatus CreateSession(in IxpSessionCreateBody body)
    {
        if (body.Session >= (uint)_sessions.Length)
        {
            return Refuse(IxpStatus.Error, $"session slot {body.Session} ≥ max-sessions {_sessions.Length}");
        }

        IxpAlgorithm alg = (IxpAlgorithm)body.Algorithm;
        if (!_backend.Driver.Algorithms.Contains(alg) || body.Direction > (byte)IxpDirection.Decrypt || !IxpKeys.IsValidKeyLength(alg, body.KeyLength))
        {
            return Refuse(IxpStatus.NotSupported, $"algorithm {body.Algorithm} direction {body.Direction} key {body.KeyLength} bytes");
        }

        SessionSlot slot = _sessions[body.Session];
        if (Interlocked.CompareExchange(ref slot.State, SlotBusy, SlotFree) != SlotFree)
        {
            return Refuse(IxpStatus.Error, $"session slot {body.Session} is in use");
        }

        object? session = _backend.Driver.CreateSession(alg, (IxpDirection)body.Direction, body.KeyBytesReadOnly()[..body.KeyLength], out IxpStatus st);
        if (session is null)
        {
            Volatile.Write(ref slot.State, SlotFree);
            return Refuse(st, $"the driver refused session {body.Session}");
        }

        slot.DriverSession = session;
        slot.Algorithm = alg;
        slot.InFlight = 0;
        Interlocked.Increment(ref _sessionCount);
        // Release: the session is visible before the slot says Ready.
        Volatile.Write(ref slot.State, SlotReady);
        return IxpStatus.Okay;
    }

    internal IxpStatus DestroySession(uint index)
    {
        if (index >= (uint)_sessions.Length)
        {
            return Refuse(IxpStatus.Error, $"session slot {index} ≥ max-sessions");
        }

        SessionSlot slot = _sessions[index];
        if (Interlocked.CompareExchange(ref slot.State, SlotBusy, SlotReady) != SlotReady)
        {
            return Refuse(IxpStatus.NoSession, $"session slot {index} holds no session");
        }

        if (Volatile.Read(ref slot.InFlight) != 0)
        {
            Volatile.Write(ref slot.State, SlotReady);
            return Refuse(IxpStatus.Busy, $"session slot {index} has requests in flight");
        }

        _backend.Driver.RemoveSession(slot.DriverSession!);
        slot.DriverSession = null;
        Interlocked.Decrement(ref _sessionCount);
        Volatile.Write(ref slot.State, SlotFree);
        return IxpStatus.Okay;
    }

    /// <summary>Takes a reference on a ready session for one request; null if the slot holds none.</summary>
    internal object? AcquireSession(uint index, out IxpAlgorithm algorithm)
    {
        algorithm = default;
        if (index >= (uint)_sessions.Length)
        {
            return null;
        }

        SessionSlot slot = _sessions[index];
        if (Volatile.Read(ref slot.State) != SlotReady)
        {
            return null;
        }

        Interlocked.Increment(ref slot.InFlight);
        // Full fence (the increment): a destroyer that saw InFlight 0 has moved the state; re-check it.
        if (Volatile.Read(ref slot.State) != SlotReady)
        {
            Interlocked.Decrement(ref slot.InFlight);
            return null;
        }

        algorithm = slot.Algorithm;
        return slot.DriverSession;
    }

    internal void ReleaseSession(int index) => Interlocked.Decrement(ref _sessions[index].InFlight);

    private void ReleaseSessions()
    {
        foreach (SessionSlot slot in _sessions)
        {
            if (slot.State == SlotReady && slot.DriverSession is { } s)
            {
                _backend.Driver.RemoveSession(s);
            }

            slot.DriverSession = null;
            slot.State = SlotFree;
            slot.InFlight = 0;
        }

        _sessionCount = 0;
    }
}
