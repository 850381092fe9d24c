/**
 * Every event name Parcours itself produces or gives a meaning to, named once. Shops and apps send their own names
 * too; these are the ones our code reads or writes (Segment's e-commerce spec where one exists).
 */
export const EVENTS = {
  // Segment e-commerce spec (what the shop connectors produce, and the default goal of flows and campaigns).
  checkoutStarted: 'Checkout Started',
  orderCompleted: 'Order Completed',
  /** Not in Segment's spec: Shopify's payment capture, kept apart from the order itself. */
  orderPaid: 'Order Paid',
  orderRefunded: 'Order Refunded',
  signedUp: 'Signed Up',
  // Engagement with a message we sent (`properties.message_id` ties them to it).
  emailDelivered: 'Email Delivered',
  emailOpened: 'Email Opened',
  emailClicked: 'Email Clicked',
  emailBounced: 'Email Bounced',
  emailDropped: 'Email Dropped',
  emailMarkedAsSpam: 'Email Marked as Spam',
  smsDelivered: 'SMS Delivered',
  smsUndelivered: 'SMS Undelivered',
  smsFailed: 'SMS Failed',
  /** A consent decision on a channel, whatever recorded it. */
  consentChanged: 'Consent Changed',
  /** An unsubscribe by any path (link, provider, complaint). */
  unsubscribed: 'Unsubscribed',
  // Facts Parcours stores about a contact.
  /** A profile change made by an update_profile step or an identify, carrying the profile before and after. */
  profileUpdated: 'Profile Updated',
  segmentEntered: 'Segment Entered',
  segmentExited: 'Segment Exited',
  listJoined: 'List Joined',
  listLeft: 'List Left',
} as const;

/**
 * Events about one message we sent: `properties.message_id` names it. A wait on one of them
 * listens to the journey's own message unless it says otherwise (flows/wait-scope.ts).
 */
export const MESSAGE_EVENTS: readonly string[] = [
  EVENTS.emailDelivered,
  EVENTS.emailOpened,
  EVENTS.emailClicked,
  EVENTS.emailBounced,
  EVENTS.emailDropped,
  EVENTS.emailMarkedAsSpam,
  EVENTS.smsDelivered,
  EVENTS.smsUndelivered,
  EVENTS.smsFailed,
];

export type ParcoursEventName = (typeof EVENTS)[keyof typeof EVENTS];
